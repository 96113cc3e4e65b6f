from django.contrib import admin

from crashbot.models import ScheduledJob
from crashbot.scheduling import JOBS


@admin.register(ScheduledJob)
class ScheduledJobAdmin(admin.ModelAdmin):
    """Read-only: when each recurring job ran, how it ended, and when it runs next."""

    list_display = ("name", "every", "next_run_at", "last_started_at", "last_finished_at", "runs", "ok", "leased_by")
    readonly_fields = (*list_display, "lease_until", "last_error")
    fields = readonly_fields

    @admin.display(description="every")
    def every(self, obj: ScheduledJob) -> str:
        job = next((job for job in JOBS if job.name == obj.name), None)
        return str(job.every) if job else "not in JOBS any more"

    @admin.display(boolean=True, description="last run ok")
    def ok(self, obj: ScheduledJob) -> bool | None:
        return None if obj.last_finished_at is None else not obj.last_error

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
