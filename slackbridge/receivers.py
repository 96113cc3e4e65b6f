"""Listeners for the incidents app's signals: turn a committed change into queued Slack work.

Runs on the request path (the signal is sent after commit), so it only inserts a task row:
it never calls Slack.
"""

import logging

from django.db import DatabaseError

from slackbridge.client import slack_enabled

logger = logging.getLogger(__name__)


def on_incident_changed(sender, *, incident_id: int, **kwargs) -> None:
    from slackbridge import tasks  # tasks need the app registry and the task backend loaded

    if not slack_enabled():
        tasks.log_sync_off_once()
        return
    try:
        tasks.enqueue_sync(incident_id)
    except DatabaseError:
        # The change itself is committed; don't turn that into an error for the person who made it.
        logger.exception("Could not queue the Slack sync of incident %s; the next change will catch up", incident_id)


def on_component_changed(
    sender, *, component_id: int, old_status: str, new_status: str, note: str = "", at=None, **kwargs
) -> None:
    """Monitoring detected a change (SPEC §10): queue the one alert or recovery message."""
    from slackbridge import tasks

    if not slack_enabled():
        tasks.log_sync_off_once()
        return
    try:
        tasks.announce_component.enqueue(
            component_id=component_id,
            old_status=old_status,
            new_status=new_status,
            note=note,
            at=(at.isoformat() if at is not None else ""),
        )
    except DatabaseError:
        logger.exception("Could not queue the probe alert of component %s", component_id)
