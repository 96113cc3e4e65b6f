from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self) -> None:
        from incidents.caching import forget_stamp
        from incidents.signals import component_changed, incident_changed

        incident_changed.connect(forget_stamp, dispatch_uid="incidents.caching.forget_stamp")
        component_changed.connect(forget_stamp, dispatch_uid="incidents.caching.forget_stamp_component")
