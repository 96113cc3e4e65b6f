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
