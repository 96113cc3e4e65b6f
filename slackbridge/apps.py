from django.apps import AppConfig


class SlackbridgeConfig(AppConfig):
    name = "slackbridge"
    verbose_name = "Slack bridge"

    def ready(self) -> None:
        from incidents.signals import incident_changed
        from slackbridge import checks  # noqa: F401 (registers the start-up checks)
        from slackbridge.receivers import on_incident_changed

        incident_changed.connect(on_incident_changed, dispatch_uid="slackbridge.sync_incident")
