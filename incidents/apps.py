from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from incidents.caching import forget_stamp
        from incidents.models import Component
        from incidents.signals import component_changed, incident_changed

        incident_changed.connect(forget_stamp, dispatch_uid="incidents.caching.forget_stamp")
        component_changed.connect(forget_stamp, dispatch_uid="incidents.caching.forget_stamp_component")
        # A component edited in admin shows on the page at once in this process, like an incident change.
        post_save.connect(forget_stamp, sender=Component, dispatch_uid="incidents.caching.forget_stamp.save")
        post_delete.connect(forget_stamp, sender=Component, dispatch_uid="incidents.caching.forget_stamp.delete")
