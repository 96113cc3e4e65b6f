"""Make Slack show what the database says (SPEC §3 "What Slack shows").

A reconciler, not an event handler: whatever the change was, it reads the incident and its
timeline and does what is missing — post the headline once, edit it when what it shows has
changed, post every timeline message not yet in the thread, then refresh the channel topic.
Running it again, or on two workers at once, posts nothing twice:

1. a per-incident lease (``SyncLease``) lets one worker at a time talk to Slack about an
   incident, without holding a database transaction across a Slack call;
2. each message is *claimed* (a ``SlackMessage`` row without ``ts``, unique per headline and
   per timeline entry) before it is posted, and its ``ts`` saved right after.

A worker that dies between the post and saving the ``ts`` (or a post whose answer is lost)
leaves a claim without ``ts``. Each post carries its claim in the message metadata, so the next
sync first looks for it in Slack (``conversations.history``/``replies``) and records the ``ts``
it finds; only a message Slack does not have is posted again: no duplicate, never a lost update
(unless the app may not read the channel, then at most one duplicate). See docs/SLACK_SYNC.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError
from django.db.models import Q
from django.utils import timezone

from incidents import selectors
from incidents.models import Incident, IncidentUpdate, Person, Source
from incidents.services import SLACK_USER_ID, person_set_display_name
from slackbridge import client
from slackbridge.blocks.messages import TOPIC_MAX, TopicItem, channel_topic, headline, thread_reply, with_actions_id
from slackbridge.client import SlackCallError
from slackbridge.models import ChannelTopic, IncidentChannel, MessageKind, SlackMessage, SyncLease

logger = logging.getLogger(__name__)

LEASE_SECONDS = 120  # default of settings.SLACK_SYNC_LEASE_SECONDS
CLAIM_CLOCK_SKEW = 60  # seconds: how far our clock and Slack's may disagree when looking for a post in doubt


def lease_seconds() -> int:
    return int(getattr(settings, "SLACK_SYNC_LEASE_SECONDS", LEASE_SECONDS))


class Busy(Exception):
    """Another worker holds the lease on this item; try again after ``until``."""

    def __init__(self, name: str, until) -> None:
        super().__init__(f"{name} is being synced by another worker")
        self.name = name
        self.until = until


class NotConfigured(Exception):
    """Sync can't run: a setting is missing."""


# --- leases ---------------------------------------------------------------------------------------------------
def lease_acquire(name: str, owner: str, *, seconds: int | None = None) -> None:
    """Take the lease with one conditional UPDATE, or raise ``Busy``."""
    seconds = lease_seconds() if seconds is None else seconds
    now = timezone.now()
    SyncLease.objects.get_or_create(name=name)
    taken = (
        SyncLease.objects.filter(name=name)
        .filter(Q(until__isnull=True) | Q(until__lt=now))
        .update(owner=owner, until=now + timedelta(seconds=seconds))
    )
    if not taken:
        until = SyncLease.objects.filter(name=name).values_list("until", flat=True).first()
        raise Busy(name, until or now)


def lease_renew(name: str, owner: str, *, seconds: int | None = None) -> None:
    """Extend our lease before a Slack call; if it expired and someone else took it, stop."""
    seconds = lease_seconds() if seconds is None else seconds
    renewed = SyncLease.objects.filter(name=name, owner=owner).update(until=timezone.now() + timedelta(seconds=seconds))
    if not renewed:
        raise Busy(name, timezone.now())


def lease_release(name: str, owner: str) -> None:
    SyncLease.objects.filter(name=name, owner=owner).update(owner="", until=None)


# --- the reconciler -------------------------------------------------------------------------------------------
def sync_incident(incident_id: int) -> dict:
    """Bring Slack in line with one incident, then the channel topic. Returns counts for the task result.

    Raises ``SlackCallError`` (the task retries transient ones later and stops on permanent
    ones), ``Busy`` (another worker is on it) or ``NotConfigured``.
    """
    channel = settings.SLACK_INCIDENTS_CHANNEL
    if not channel:
        raise NotConfigured("SLACK_INCIDENTS_CHANNEL is empty: set it to the incidents channel id (C…).")
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is None:
        return {"incident": incident_id, "missing": True}
    if _is_history(incident):
        return {"incident": incident_id, "skipped": "history (imported or backfilled, already closed)"}
    owner = uuid.uuid4().hex
    name = f"incident:{incident_id}"
    lease_acquire(name, owner)
    try:
        counts = {"incident": incident_id, "posted": 0, "edited": 0, "recovered": 0}
        thread_ts, thread_channel = _sync_headline(incident, channel, name, owner, counts)
        _sync_replies(incident, thread_channel, thread_ts, name, owner, counts)
        _resolve_names_tolerant(_people_of(incident))
    finally:
        lease_release(name, owner)
    counts["topic"] = sync_topic()
    return counts


def _is_history(incident: Incident) -> bool:
    """An imported or backfilled incident that is already closed and was never in Slack.

    The channel is for live incidents: a migration of hundreds of old incidents must not
    flood it with headlines. Such an incident joins Slack the moment it is reopened.
    """
    if incident.is_open:
        return False
    if SlackMessage.objects.filter(incident=incident, kind=MessageKind.HEADLINE).exists():
        return False
    first = IncidentUpdate.objects.filter(incident=incident, number=1).values("source", "changes").first()
    return bool(first) and (first["source"] == Source.IMPORT or "backfill" in (first["changes"] or {}))


def _sync_headline(incident: Incident, channel: str, lease: str, owner: str, counts: dict) -> tuple[str, str]:
    components = list(incident.components.order_by("position", "name").values_list("name", flat=True))
    live = IncidentChannel.objects.filter(incident=incident, archived_at__isnull=True).values("channel", "name").first()
    last = IncidentUpdate.objects.filter(incident=incident).order_by("-number").values_list("number", flat=True)
    message = headline(
        incident,
        components=components,
        entry_number=last.first() or 1,
        channel=(live["channel"], live["name"]) if live else None,
    )
    digest = hashlib.sha256(json.dumps(message, sort_keys=True).encode()).hexdigest()
    message = with_actions_id(message, digest[:12])  # a new block id with every edit
    row = SlackMessage.objects.filter(incident=incident, kind=MessageKind.HEADLINE).first()
    if row is None:
        try:
            row = SlackMessage.objects.create(incident=incident, kind=MessageKind.HEADLINE, channel=channel)
        except IntegrityError:
            raise Busy(lease, timezone.now()) from None
    elif not row.ts:
        lease_renew(lease, owner)
        found = _posted_before(row)
        logger.warning(
            "%s: a headline post claimed at %s never recorded its ts (worker stopped mid-post?); %s",
            incident.key,
            row.claimed_at.isoformat(),
            "found it in Slack, not posting it again" if found else "Slack does not have it; posting it again",
        )
        if found:
            # What the found message shows is unknown: an empty digest makes the edit below bring it in line.
            SlackMessage.objects.filter(pk=row.pk).update(ts=found, digest="", posted_at=timezone.now())
            row.ts, row.digest = found, ""
            counts["recovered"] += 1
    if not row.ts:
        lease_renew(lease, owner)
        posted_channel, ts = _post_claimed(row, text=message["text"], blocks=message["blocks"])
        # Slack answers with the channel id, whatever we sent: edits (chat.update) need the id.
        SlackMessage.objects.filter(pk=row.pk).update(
            channel=posted_channel, ts=ts, digest=digest, posted_at=timezone.now()
        )
        counts["posted"] += 1
        return ts, posted_channel
    if row.digest != digest:
        lease_renew(lease, owner)
        try:
            client.update_message(channel=row.channel, ts=row.ts, text=message["text"], blocks=message["blocks"])
        except SlackCallError as err:
            if err.code != "message_not_found":
                raise
            logger.warning("%s: the headline was deleted in Slack; posting it again", incident.key)
            posted_channel, ts = client.post_message_to(
                channel=row.channel, text=message["text"], blocks=message["blocks"]
            )
            SlackMessage.objects.filter(pk=row.pk).update(
                channel=posted_channel, ts=ts, digest=digest, posted_at=timezone.now()
            )
            counts["posted"] += 1
            return ts, posted_channel
        SlackMessage.objects.filter(pk=row.pk).update(digest=digest, updated_at=timezone.now())
        counts["edited"] += 1
    return row.ts, row.channel


def _sync_replies(incident: Incident, channel: str, thread_ts: str, lease: str, owner: str, counts: dict) -> None:
    posted = set(
        SlackMessage.objects.filter(incident=incident, kind=MessageKind.REPLY)
        .exclude(ts="")
        .values_list("entry_number", flat=True)
    )
    entries = IncidentUpdate.objects.filter(incident=incident).exclude(message="").order_by("number")
    for entry in entries.exclude(number__in=posted):
        row, created = SlackMessage.objects.get_or_create(
            incident=incident, kind=MessageKind.REPLY, entry_number=entry.number, defaults={"channel": channel}
        )
        if row.ts:
            continue
        lease_renew(lease, owner)
        if not created:
            found = _posted_before(row, thread_ts=thread_ts)
            logger.warning(
                "%s: reply #%d was claimed at %s but never recorded its ts; %s",
                incident.key,
                entry.number,
                row.claimed_at.isoformat(),
                "found it in Slack, not posting it again" if found else "Slack does not have it; posting it again",
            )
            if found:
                SlackMessage.objects.filter(pk=row.pk).update(ts=found, posted_at=timezone.now())
                counts["recovered"] += 1
                continue
        posted_channel, ts = _post_claimed(row, text=thread_reply(entry), thread_ts=thread_ts)
        SlackMessage.objects.filter(pk=row.pk).update(channel=posted_channel, ts=ts, posted_at=timezone.now())
        counts["posted"] += 1


def _post_claimed(row: SlackMessage, **message) -> tuple[str, str]:
    """Post the message of a claimed row, the claim in its metadata; drop the claim when Slack says
    it did not post.

    Returns (channel id, ts) as Slack answered."""
    try:
        return client.post_message_to(channel=row.channel, claim=str(row.pk), **message)
    except SlackCallError as err:
        if err.status is not None:  # Slack answered: nothing was posted (a timeout leaves the claim in doubt)
            SlackMessage.objects.filter(pk=row.pk, ts="").delete()
        raise


def _posted_before(row: SlackMessage, *, thread_ts: str = "") -> str:
    """The ts of a claimed message that reached Slack although its ts was never recorded, else "".

    Looks at messages since the claim (less a minute for clocks that disagree). An app that may
    not read the channel (``channels:history`` missing) can't tell: the message is posted again,
    at most one duplicate, as before this check existed."""
    oldest = f"{row.claimed_at.timestamp() - CLAIM_CLOCK_SKEW:.6f}"
    try:
        return client.find_claimed(channel=row.channel, claim=str(row.pk), thread_ts=thread_ts, oldest=oldest)
    except SlackCallError as err:
        if err.transient:
            raise
        logger.error("Could not check Slack for a post in doubt (%s). %s", err.code, err.hint())
        return ""


# --- the channel topic ----------------------------------------------------------------------------------------
def build_topic(*, limit: int = TOPIC_MAX) -> str:
    items = [TopicItem(i.severity, i.key, i.title) for i in selectors.incidents_open()]
    items += [TopicItem(m.severity, m.key, m.title, maintenance=True) for m in selectors.maintenances_active()]
    return channel_topic(items, limit=limit)


def sync_topic() -> str:
    """Set the topic from all open incidents, if it differs from what we last set.

    Under a lease, and re-read after setting: a worker that read older data can't overwrite
    a newer topic. Returns "set" or "unchanged".
    """
    channel = settings.SLACK_INCIDENTS_CHANNEL
    owner = uuid.uuid4().hex
    name = f"topic:{channel}"
    lease_acquire(name, owner)
    try:
        result = "unchanged"
        for _ in range(3):
            state, _ = ChannelTopic.objects.get_or_create(channel=channel)
            topic = build_topic()
            if state.set_at is not None and state.topic == topic:
                break
            lease_renew(name, owner)
            topic = _set_topic(channel, topic)
            ChannelTopic.objects.filter(pk=state.pk).update(topic=topic, set_at=timezone.now())
            result = "set"
        return result
    finally:
        lease_release(name, owner)


def _set_topic(channel: str, topic: str) -> str:
    """Set it; should Slack count longer than we do (``too_long``), shorten and try again."""
    limit = TOPIC_MAX
    for _ in range(3):
        try:
            client.set_topic(channel=channel, topic=topic)
            return topic
        except SlackCallError as err:
            if err.code != "too_long":
                raise
            limit = int(limit * 0.8)
            logger.warning("Slack found the topic too long; retrying with %d characters", limit)
            topic = build_topic(limit=limit)
    client.set_topic(channel=channel, topic=topic)
    return topic


# --- display names --------------------------------------------------------------------------------------------
def _people_of(incident: Incident) -> set[str]:
    authors = IncidentUpdate.objects.filter(incident=incident).values_list("author", flat=True).distinct()
    ids = {incident.point, incident.contact, *authors}
    return {i for i in ids if i and SLACK_USER_ID.match(i)}


def resolve_names(slack_ids: set[str]) -> int:
    """Look up (with ``users.info``) and store the display names that are missing or older
    than ``SLACK_NAME_MAX_AGE_HOURS``; returns how many were stored.

    Public pages read the stored names and never ask Slack themselves.
    """
    fresh_since = timezone.now() - timedelta(hours=settings.SLACK_NAME_MAX_AGE_HOURS)
    fresh = set(
        Person.objects.filter(slack_id__in=slack_ids, refreshed_at__gte=fresh_since).values_list("slack_id", flat=True)
    )
    stored = 0
    for slack_id in sorted(slack_ids - fresh):
        try:
            name = client.user_display_name(user_id=slack_id)
        except SlackCallError as err:
            if err.code in ("user_not_found", "users_not_found"):
                logger.info("Slack has no user %s; its name stays unknown", slack_id)
                continue
            raise
        if name:
            person_set_display_name(slack_id=slack_id, display_name=name)
            stored += 1
    return stored


def _resolve_names_tolerant(slack_ids: set[str]) -> None:
    """Names are a nicety for the public pages: a permanent error (e.g. the app lacks
    ``users:read``) is logged and must not stop the headline/topic sync."""
    try:
        resolve_names(slack_ids)
    except SlackCallError as err:
        if err.transient:
            raise
        logger.error("Could not resolve Slack display names (%s): %s", err.code, err.hint() or "check the app's scopes")


def stale_people() -> set[str]:
    """Slack ids whose stored name is missing or old: open incidents' people and every stale Person."""
    fresh_since = timezone.now() - timedelta(hours=settings.SLACK_NAME_MAX_AGE_HOURS)
    ids = set(Person.objects.filter(refreshed_at__lt=fresh_since).values_list("slack_id", flat=True))
    for point, contact in selectors.incidents_open().values_list("point", "contact"):
        ids |= {i for i in (point, contact) if i and SLACK_USER_ID.match(i)}
    return ids
