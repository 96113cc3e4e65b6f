"""The one registry of recurring work (SPEC §11: no cron; the worker schedules it itself).

Every app adds its job as one row of ``JOBS``: a name, how often it runs, and the dotted
path of a plain function that takes no arguments, is safe to run again (idempotent) and
finds its own due work from the database (so a run missed while the worker was down
simply happens on the next one). The runner that makes ``db_worker`` run these jobs,
once at a time across any number of workers, lives below ``JOBS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta
    func: str  # dotted path, imported when the job runs (crashbot imports no app at import time)


JOBS: tuple[Job, ...] = (
    # Add one row per recurring job, e.g.
    # Job("tasks.prune", timedelta(hours=1), "crashbot.housekeeping.prune_finished_tasks"),
    Job("monitoring.probes", timedelta(seconds=5), "monitoring.services.run_due_probes"),
    Job("monitoring.rollup", timedelta(minutes=10), "monitoring.services.rollup_and_prune"),
    # Subscriptions: finish what a killed worker left, announce component changes, forget stale sign-ups.
    Job("subscriptions.run_due", timedelta(minutes=1), "subscriptions.tasks.run_due_now"),
)
