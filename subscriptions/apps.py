from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = "Subscriptions"

    def ready(self) -> None:
        from incidents.signals import incident_changed
        from subscriptions.receivers import on_incident_changed

        incident_changed.connect(on_incident_changed, dispatch_uid="subscriptions.plan_incident_events")
