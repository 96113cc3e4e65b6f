from django.apps import AppConfig


class SlackbridgeConfig(AppConfig):
    name = "slackbridge"
    verbose_name = "Slack bridge"
