"""A Slack channel per incident, on demand (SPEC §9).

Asking (the headline's "Open channel" button or ``/update-incident DCL-N channel``) records an
``IncidentChannel`` row and queues ``tasks.open_channel``; the request path calls no Slack
method. The worker creates ``inc-dcl-n-<title-slug>`` (a suffix when Slack says
``name_taken``), invites the point person, the contact and whoever asked, posts the summary
with a link back to the headline, bookmarks the incident page, sets the topic, and the
headline then shows the channel. ``archive_due`` (job ``slack.archive_channels``) archives it
``CHANNEL_ARCHIVE_DAYS`` after resolution. A bot token cannot unarchive a channel, so a
reopened incident whose channel was archived gets the button again and a fresh channel.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from incidents.models import Incident, Status
from incidents.services import SLACK_USER_ID
from slackbridge import client
from slackbridge.blocks import channels as blocks
from slackbridge.blocks.modals import incident_url
from slackbridge.client import SlackCallError
from slackbridge.models import IncidentChannel, MessageKind, SlackMessage

logger = logging.getLogger(__name__)

NAME_MAX = 80  # Slack's limit for a channel name
NAME_ATTEMPTS = 20


def channel_name(incident: Incident, attempt: int = 1) -> str:
    """``inc-dcl-12-marketplace-down``: lower case, letters, digits and hyphens, at most 80 characters;
    attempt 2, 3, … adds ``-2``, ``-3`` (after ``name_taken``)."""
    base = f"inc-{slugify(incident.key)}"
    slug = slugify(incident.title)[:NAME_MAX].strip("-_")
    name = f"{base}-{slug}" if slug else base
    suffix = f"-{attempt}" if attempt > 1 else ""
    return name[: NAME_MAX - len(suffix)].rstrip("-_") + suffix


def live_channel(incident_id: int) -> IncidentChannel | None:
    return IncidentChannel.objects.filter(incident_id=incident_id, archived_at__isnull=True).first()


def request_channel(*, incident: Incident, user_id: str) -> tuple[IncidentChannel, bool]:
    """Ask for a channel; returns (the live or requested channel, whether this call asked for it).

    The task is queued after commit; a second ask while one is live or being opened changes nothing.
    """
    existing = live_channel(incident.pk)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            row = IncidentChannel.objects.create(incident=incident, requested_by=user_id[:32])
            transaction.on_commit(lambda: _enqueue_open(row.pk))
    except IntegrityError:
        return live_channel(incident.pk) or IncidentChannel(incident=incident), False
    return row, True


def _enqueue_open(row_id: int) -> None:
    from slackbridge import tasks

    tasks.open_channel.enqueue(channel_id=row_id)


# --- worker side ------------------------------------------------------------------------------------------------
def open_channel(row_id: int) -> dict:
    """Create the channel in Slack and set it up. Raises ``SlackCallError`` (the task decides).

    Run again after a failure, it keeps the channel already created and redoes the set-up
    (at worst a second summary message), so a transient error never loses the set-up."""
    row = IncidentChannel.objects.select_related("incident").filter(pk=row_id, archived_at__isnull=True).first()
    if row is None:
        return {"outcome": "gone"}
    if row.ready_at:
        return {"outcome": "exists", "channel": row.channel}
    incident = row.incident
    if not row.channel:  # a retry after a failure later on keeps the channel it created
        created = _create(incident)
        row.channel, row.name = created["id"], created["name"]
        IncidentChannel.objects.filter(pk=row.pk).update(channel=row.channel, name=row.name, created_at=timezone.now())
    channel = row.channel
    _invite(channel, [incident.point, incident.contact, row.requested_by])
    head = SlackMessage.objects.filter(incident=incident, kind=MessageKind.HEADLINE).exclude(ts="").first()
    permalink = client.permalink(channel=head.channel, ts=head.ts) if head else ""
    page = incident_url(incident, settings.PUBLIC_BASE_URL) if settings.PUBLIC_BASE_URL else ""
    components = list(incident.components.order_by("position", "name").values_list("name", flat=True))
    summary = blocks.summary_message(incident, components=components, headline_link=permalink, page_url=page)
    client.post_message(channel=channel, text=summary["text"], blocks=summary["blocks"])
    if page.startswith(("https://", "http://")):
        client.add_bookmark(channel=channel, title=f"{incident.key} incident page", link=page)
    client.set_topic(channel=channel, topic=blocks.channel_topic(incident))
    IncidentChannel.objects.filter(pk=row.pk).update(ready_at=timezone.now())
    _refresh_headline(incident.pk)
    return {"outcome": "opened", "channel": channel, "name": row.name}


def _create(incident: Incident) -> dict:
    for attempt in range(1, NAME_ATTEMPTS + 1):
        try:
            return client.create_channel(name=channel_name(incident, attempt))
        except SlackCallError as err:
            if err.code != "name_taken":
                raise
    raise SlackCallError("conversations.create", "name_taken", transient=False)


def _invite(channel: str, people: list[str]) -> None:
    """Invite everyone we can; one unknown or deactivated user must not keep the others out."""
    users = list(dict.fromkeys(p for p in people if p and SLACK_USER_ID.match(p)))
    if not users:
        return
    try:
        client.invite(channel=channel, users=users)
        return
    except SlackCallError as err:
        if err.transient:
            raise
    for user in users:
        try:
            client.invite(channel=channel, users=[user])
        except SlackCallError as err:
            if err.transient:
                raise
            logger.info("Could not invite %s to %s: %s", user, channel, err.code)


def forget_failed(row_id: int) -> None:
    """Creating the channel failed for good: drop the request so "Open channel" is offered again."""
    IncidentChannel.objects.filter(pk=row_id, channel="").delete()


def archive_due() -> dict:
    """The ``slack.archive_channels`` job: archive incident channels ``CHANNEL_ARCHIVE_DAYS`` after the
    incident was resolved (or marked invalid). Idempotent; a channel someone already archived is recorded."""
    if not client.slack_enabled():
        return {"outcome": "off"}
    cutoff = timezone.now() - timedelta(days=settings.CHANNEL_ARCHIVE_DAYS)
    due = IncidentChannel.objects.filter(archived_at__isnull=True).exclude(channel="")
    due = due.filter(
        Q(incident__status=Status.RESOLVED, incident__closed_at__lte=cutoff)
        | Q(incident__status=Status.INVALID, incident__modified_at__lte=cutoff)
    )
    archived = failed = 0
    for row in due:
        try:
            client.archive_channel(channel=row.channel)
        except SlackCallError as err:
            if err.code not in ("already_archived", "channel_not_found"):
                logger.warning("Could not archive #%s of incident %s: %s", row.name, row.incident_id, err)
                failed += 1
                continue
        IncidentChannel.objects.filter(pk=row.pk).update(archived_at=timezone.now())
        _refresh_headline(row.incident_id)
        archived += 1
    return {"outcome": "done", "archived": archived, "failed": failed}


def _refresh_headline(incident_id: int) -> None:
    from slackbridge import tasks

    tasks.enqueue_sync(incident_id)
