"""Recurring housekeeping of the project itself (jobs in crashbot/scheduling.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)


def prune_finished_tasks(now: datetime | None = None) -> int:
    """Delete task rows that finished (succeeded or failed) over ``TASK_RESULTS_KEEP_DAYS`` ago.

    Rows still waiting or running are never touched. Returns how many were deleted.
    """
    from django_tasks_db.models import DBTaskResult

    cutoff = (now or timezone.now()) - timedelta(days=settings.TASK_RESULTS_KEEP_DAYS)
    deleted, _ = DBTaskResult.objects.finished().filter(finished_at__lt=cutoff).delete()
    if deleted:
        logger.info("Pruned %d finished task rows older than %d days", deleted, settings.TASK_RESULTS_KEEP_DAYS)
    return deleted
