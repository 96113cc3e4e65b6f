from django.db import models


class ScheduledJob(models.Model):
    """When a job of ``crashbot.scheduling.JOBS`` runs next, and which worker holds it now.

    One row per job name, created by the first worker that sees the job. A worker claims a
    due job with one conditional UPDATE (due, and no unexpired lease), so of any number of
    workers exactly one runs it; the lease is renewed while the job runs and expires if the
    worker dies, so another worker takes the job over.
    """

    name = models.CharField(max_length=100, primary_key=True)
    next_run_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    leased_by = models.CharField(max_length=64, blank=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    runs = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
