from django.apps import AppConfig


class SlackbridgeConfig(AppConfig):
    name = "slackbridge"
    verbose_name = "Slack bridge"

    def ready(self) -> None:
        from incidents.signals import component_changed, incident_changed
        from slackbridge.receivers import on_component_changed, on_incident_changed

        incident_changed.connect(on_incident_changed, dispatch_uid="slackbridge.sync_incident")
        component_changed.connect(on_component_changed, dispatch_uid="slackbridge.announce_component")
