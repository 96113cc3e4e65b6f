"""Listeners for the incidents app's signals: turn a committed change into one queued task.

Runs on the request path (the signal is sent after commit), so it only inserts a task row:
working out events and sending happen on the worker.
"""

import logging

from django.db import DatabaseError

logger = logging.getLogger(__name__)


def on_incident_changed(sender, *, incident_id: int, **kwargs) -> None:
    from subscriptions import tasks  # tasks need the app registry and the task backend loaded

    try:
        tasks.enqueue_plan(incident_id)
    except DatabaseError:
        # The change itself is committed; a later change (or the reconciler) catches up.
        logger.exception("Could not queue subscriber notifications for incident %s", incident_id)
