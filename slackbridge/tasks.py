"""Background tasks (django-tasks, run by ``manage.py db_worker``) that keep Slack in line.

Failure policy, in one place:
- short trouble (5xx, timeouts, connection errors) is retried inside the call by
  ``client.worker_call`` with back-off, and 429 waits out ``Retry-After``;
- if Slack is still unwell, the task ends and enqueues its successor with ``run_after``
  (exponential, ``SLACK_SYNC_BACKOFF`` doubling up to ``SLACK_SYNC_BACKOFF_MAX``), for ever:
  no change is dropped, and the first sync after Slack recovers brings the incident back
  in line;
- a permanent error (bad channel, bad token, missing scope) is logged once with what to fix
  and the task stops: retrying can't help, and the next change will try again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_tasks import task
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult, get_date_max

from slackbridge import sync
from slackbridge.client import SlackCallError, slack_enabled

logger = logging.getLogger(__name__)
_sync_off_logged = False
BUSY_RETRY_SECONDS = 2


def log_sync_off_once() -> None:
    global _sync_off_logged
    if not _sync_off_logged:
        _sync_off_logged = True
        logger.info("Slack sync is off: SLACK_BOT_TOKEN is empty, so nothing is posted to Slack.")


@task()
def sync_incident(incident_id: int, attempt: int = 0) -> dict:
    """Make Slack show this incident (headline, thread) and the channel topic as the database says."""
    if not slack_enabled():
        log_sync_off_once()
        return {"incident": incident_id, "outcome": "off"}
    net = _arm_safety_net(sync_incident, incident_id=incident_id)
    try:
        result = _disarm_after(net, sync.sync_incident, incident_id)
    except sync.Busy as busy:
        # Someone else is syncing it (or the topic) now and may have read the data before
        # this change: look again shortly (`_after_busy`).
        task_ = refresh_topic if busy.name.startswith("topic:") else sync_incident
        kwargs = {} if task_ is refresh_topic else {"incident_id": incident_id}
        enqueue(task_, run_after=_after_busy(busy), **kwargs)
        return {"incident": incident_id, "outcome": "busy"}
    except SlackCallError as err:
        return _handle_slack_error(err, sync_incident, {"incident_id": incident_id}, attempt)
    except sync.NotConfigured as err:
        logger.error("Slack sync of incident %s skipped: %s", incident_id, err)
        return {"incident": incident_id, "outcome": "not_configured"}
    return {**result, "outcome": "done"}


@task()
def refresh_topic(attempt: int = 0) -> dict:
    """Set the channel topic from the open incidents (also run after a topic lease was busy)."""
    if not slack_enabled():
        log_sync_off_once()
        return {"outcome": "off"}
    net = _arm_safety_net(refresh_topic)
    try:
        return {"outcome": "done", "topic": _disarm_after(net, sync.sync_topic)}
    except sync.Busy as busy:
        enqueue(refresh_topic, run_after=_after_busy(busy))
        return {"outcome": "busy"}
    except SlackCallError as err:
        return _handle_slack_error(err, refresh_topic, {}, attempt)


@task()
def refresh_names() -> dict:
    """Refresh stored display names that are missing or older than ``SLACK_NAME_MAX_AGE_HOURS``.

    Each incident sync already resolves its own people; this one is for a periodic run (cron:
    ``manage.py shell -c "from slackbridge.tasks import refresh_names; refresh_names.enqueue()"``).
    """
    if not slack_enabled():
        log_sync_off_once()
        return {"outcome": "off"}
    try:
        return {"outcome": "done", "stored": sync.resolve_names(sync.stale_people())}
    except SlackCallError as err:
        return _handle_slack_error(err, None, {}, 0)


@task()
def announce_component(
    component_id: int, old_status: str, new_status: str, note: str = "", at: str = "", attempt: int = 0
) -> dict:
    """Post the probe alert (or recovery) for one detected change, once (slackbridge/probe_alerts.py)."""
    from slackbridge import probe_alerts

    if not slack_enabled():
        log_sync_off_once()
        return {"outcome": "off"}
    kwargs = {"component_id": component_id, "old_status": old_status, "new_status": new_status, "note": note}
    try:
        return {"outcome": probe_alerts.announce(**kwargs, at=at or timezone.now().isoformat())}
    except SlackCallError as err:
        if not err.transient:
            logger.error(
                "Probe alert of component %s not posted: %s failed with %s", component_id, err.method, err.code
            )
            return {"outcome": "gave_up", "error": err.code}
        delay = min(settings.SLACK_SYNC_BACKOFF * 2**attempt, settings.SLACK_SYNC_BACKOFF_MAX)
        delay = max(delay, err.retry_after or 0)
        run_after = timezone.now() + timedelta(seconds=delay)
        announce_component.using(run_after=run_after).enqueue(**kwargs, at=at, attempt=attempt + 1)
        return {"outcome": "retry", "error": err.code, "delay": delay}


def _arm_safety_net(task_, **kwargs) -> str | None:
    """Queue this task again for after the lease would expire, in case this worker dies mid-sync.

    A worker killed inside a task leaves its row RUNNING for ever (django-tasks-db does not
    take it back) and its lease held until it expires: without a successor queued, the
    change it was showing would reach Slack only with the next change to that incident.
    Returns the id of the successor to cancel when this run ends normally, or None when a
    run of the same task is already queued (that one does the job). Re-running a sync is
    always safe: it posts only what is missing.
    """
    if not isinstance(task_.get_backend(), DatabaseBackend):
        return None
    queued = DBTaskResult.objects.filter(status="READY", task_path=task_.module_path)
    if "incident_id" in kwargs:
        queued = queued.filter(args_kwargs__kwargs__incident_id=kwargs["incident_id"])
    if queued.exists():
        return None
    run_after = timezone.now() + timedelta(seconds=sync.lease_seconds() + 1)
    return str(task_.using(run_after=run_after).enqueue(**kwargs).id)


def _disarm_after(net: str | None, work, *args):
    """Run ``work``; when it returns or raises one of the outcomes we handle, cancel the safety net.

    Any other exception (a bug, the database gone) leaves the net armed, so the sync is
    tried again after the lease instead of being dropped.
    """
    try:
        result = work(*args)
    except (sync.Busy, SlackCallError, sync.NotConfigured):
        _disarm(net)
        raise
    _disarm(net)
    return result


def _disarm(net: str | None) -> None:
    if net is not None:
        DBTaskResult.objects.filter(pk=net, status="READY").delete()


def _after_busy(busy: sync.Busy):
    """Look again shortly: a sync usually takes well under a second, while the lease itself
    only expires (after a worker died) much later."""
    return min(busy.until, timezone.now() + timedelta(seconds=BUSY_RETRY_SECONDS))


def _handle_slack_error(err: SlackCallError, retry_task, kwargs: dict, attempt: int) -> dict:
    what = f"incident {kwargs['incident_id']}" if "incident_id" in kwargs else "channel topic"
    if not err.transient:
        hint = err.hint(channel=settings.SLACK_INCIDENTS_CHANNEL) or "see the Slack error code in Slack's API docs."
        logger.error("Slack sync of %s stopped: %s failed with %s. To fix: %s", what, err.method, err.code, hint)
        return {"outcome": "gave_up", "error": err.code}
    if retry_task is None:
        logger.warning("Slack is unavailable (%s); will try again on the next run", err)
        return {"outcome": "retry_later", "error": err.code}
    delay = min(settings.SLACK_SYNC_BACKOFF * 2**attempt, settings.SLACK_SYNC_BACKOFF_MAX)
    delay = max(delay, err.retry_after or 0)
    logger.warning("Slack is unavailable for %s (%s); trying again in %.1f s", what, err, delay)
    enqueue(retry_task, run_after=timezone.now() + timedelta(seconds=delay), attempt=attempt + 1, **kwargs)
    return {"outcome": "retry", "error": err.code, "delay": delay}


def enqueue_sync(incident_id: int) -> None:
    """What the receiver calls after an incident changed: one DB insert, no Slack call."""
    enqueue(sync_incident, incident_id=incident_id)


def enqueue(task_, *, run_after=None, **kwargs) -> None:
    """Enqueue, unless the same task for the same arguments is already waiting to run no later.

    A burst of 100 changes to one incident then needs one sync, not 100. Safe because a
    queued task reads the database when it runs, after this change has committed.
    """
    if _already_queued(task_, run_after, kwargs):
        return
    (task_.using(run_after=run_after) if run_after else task_).enqueue(**kwargs)


def _already_queued(task_, run_after, kwargs: dict) -> bool:
    if not isinstance(task_.get_backend(), DatabaseBackend):
        return False
    queued = DBTaskResult.objects.filter(status="READY", task_path=task_.module_path)
    if "incident_id" in kwargs:
        queued = queued.filter(args_kwargs__kwargs__incident_id=kwargs["incident_id"])
    if run_after is None:
        queued = queued.filter(run_after__lte=timezone.now()) | queued.filter(run_after=get_date_max())
    else:
        queued = queued.filter(run_after__lte=run_after) | queued.filter(run_after=get_date_max())
    return queued.exists()
