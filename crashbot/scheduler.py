"""The runner of ``crashbot.scheduling.JOBS``: a small scheduler inside every ``db_worker`` process.

``manage.py db_worker`` (crashbot/management/commands/db_worker.py) starts one
``SchedulerThread`` next to django-tasks-db's task loop. Every ``SCHEDULER_POLL_SECONDS``
it calls ``run_due_jobs``, which for each job:

1. creates its ``ScheduledJob`` row the first time (due at once);
2. claims it if it is due and nobody holds an unexpired lease, with one conditional UPDATE,
   so with any number of workers exactly one wins (SQLite and PostgreSQL alike);
3. runs the function, renewing the lease every third of ``SCHEDULER_LEASE_SECONDS``
   while it runs (a long job keeps its claim; a dead worker's claim expires);
4. releases the lease and sets the next run to start + ``every``.

A run missed while every worker was down happens once when one comes back (the row is
simply overdue; missed periods are not replayed). A worker killed mid-run leaves its lease,
which expires; the job then runs again (jobs are idempotent). A job that raises is logged
with its traceback, its error kept on the row (admin: Operations › Scheduled jobs), and it
runs again at its next time.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from crashbot import scheduling
from crashbot.models import ScheduledJob
from crashbot.scheduling import Job

logger = logging.getLogger(__name__)


def lease_length() -> timedelta:
    return timedelta(seconds=settings.SCHEDULER_LEASE_SECONDS)


def run_due_jobs(*, worker_id: str, now: datetime | None = None, jobs: Iterable[Job] | None = None) -> list[str]:
    """Run every job that is due and free; returns the names of the jobs this call ran."""
    jobs = tuple(scheduling.JOBS if jobs is None else jobs)
    now = now or timezone.now()
    _create_missing_rows(jobs, now)
    due = set(
        ScheduledJob.objects.filter(name__in=[job.name for job in jobs], next_run_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .values_list("name", flat=True)
    )
    ran = []
    for job in jobs:
        if job.name in due and _claim(job, worker_id=worker_id, now=now):
            _run_claimed(job, worker_id=worker_id, started=now)
            ran.append(job.name)
    return ran


def _create_missing_rows(jobs: tuple[Job, ...], now: datetime) -> None:
    known = set(ScheduledJob.objects.filter(name__in=[job.name for job in jobs]).values_list("name", flat=True))
    missing = [ScheduledJob(name=job.name, next_run_at=now) for job in jobs if job.name not in known]
    if missing:
        ScheduledJob.objects.bulk_create(missing, ignore_conflicts=True)


def _claim(job: Job, *, worker_id: str, now: datetime) -> bool:
    """One conditional UPDATE: of several workers claiming at once, only one matches the row."""
    claimed = (
        ScheduledJob.objects.filter(name=job.name, next_run_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .update(lease_until=now + lease_length(), leased_by=worker_id, last_started_at=now)
    )
    return claimed == 1


def _run_claimed(job: Job, *, worker_id: str, started: datetime) -> None:
    heartbeat = _Heartbeat(job.name, worker_id)
    heartbeat.start()
    error = ""
    try:
        import_string(job.func)()
    except Exception:
        # The boundary of a job: log it, keep it on the row, and carry on with the others.
        logger.exception("Scheduled job %s failed; it runs again at its next time", job.name)
        error = traceback.format_exc(limit=5)[-4000:]
    finally:
        heartbeat.stop()
    released = ScheduledJob.objects.filter(name=job.name, leased_by=worker_id).update(
        lease_until=None,
        leased_by="",
        next_run_at=started + job.every,
        last_finished_at=timezone.now(),
        last_error=error,
        runs=F("runs") + 1,
    )
    if not released:
        logger.warning("Scheduled job %s outlived its lease and was taken over by another worker", job.name)


class _Heartbeat(threading.Thread):
    """Renews a running job's lease until the job ends (its own thread and DB connection)."""

    def __init__(self, name: str, worker_id: str):
        super().__init__(name=f"lease:{name}", daemon=True)
        self.job_name = name
        self.worker_id = worker_id
        self._stop_event = threading.Event()

    def run(self) -> None:
        interval = settings.SCHEDULER_LEASE_SECONDS / 3
        try:
            while not self._stop_event.wait(interval):
                try:
                    ScheduledJob.objects.filter(name=self.job_name, leased_by=self.worker_id).update(
                        lease_until=timezone.now() + lease_length()
                    )
                except DatabaseError as err:
                    logger.warning("Could not renew the lease of scheduled job %s: %s", self.job_name, err)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


class SchedulerThread(threading.Thread):
    """Polls for due jobs next to the task loop of ``db_worker`` (daemon: it ends with the worker)."""

    def __init__(self, worker_id: str):
        super().__init__(name="crashbot-scheduler", daemon=True)
        self.worker_id = worker_id
        self._stop_event = threading.Event()

    def run(self) -> None:
        logger.info("Scheduler started in worker %s: %s", self.worker_id, ", ".join(j.name for j in scheduling.JOBS))
        try:
            while not self._stop_event.is_set():
                close_old_connections()
                try:
                    run_due_jobs(worker_id=self.worker_id)
                except DatabaseError as err:
                    logger.warning("Scheduler could not reach the database (%s); trying again", err)
                except Exception:
                    logger.exception("Scheduler error; trying again in %s s", settings.SCHEDULER_POLL_SECONDS)
                self._stop_event.wait(settings.SCHEDULER_POLL_SECONDS)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop_event.set()
