"""Reminders in an incident's Slack thread (SPEC §9), run by the worker's recurring job ``slack.reminders``.

Three reminders, each sent at most once per window and never once its cause is gone:

- ``update``: an open incident whose public timeline has been quiet for its severity's
  ``REMINDER_UPDATE_MINUTES`` (internal incidents: any entry counts; maintenances: never);
- ``unassigned``: an open sev-1..3 incident with no point person ``REMINDER_UNASSIGNED_MINUTES``
  after it opened (or after its point person was removed);
- ``rca``: a sev-1/2 incident resolved ``RCA_DUE_DAYS`` ago without an RCA link.

A window ends ``N`` after the later of the cause's start and the last reminder of that kind;
a snooze ("Snooze 30 min") pushes every reminder of that incident to the snooze's end. The
reminder writes a ``system`` timeline row and posts it into the thread itself (with its
buttons), recording the post so the thread sync does not post that row again. ``run_due``
finds all due work from the database, so a run missed while the worker was down happens on
the next one; the unique ``(incident, kind, due_at)`` row makes a second worker's send a no-op.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from incidents import services
from incidents.models import OPEN_STATUSES, Incident, IncidentUpdate, Person, Severity, Source, Status, Visibility
from slackbridge import sync
from slackbridge.blocks import reminders as blocks
from slackbridge.client import SlackCallError, slack_enabled
from slackbridge.models import MessageKind, Reminder, ReminderKind, ReminderSnooze, SlackMessage

logger = logging.getLogger(__name__)

DEFAULT_UPDATE_MINUTES = "sev-1:30,sev-2:60,sev-3:240"
UNASSIGNED_SEVERITIES = (Severity.SEV1, Severity.SEV2, Severity.SEV3)
RCA_SEVERITIES = (Severity.SEV1, Severity.SEV2)
SNOOZE_MINUTES = 30
RCA_REMINDERS_MAX = 3  # then only `/incidents rca` keeps listing it: a team without RCAs is not nagged for ever


# --- settings ---------------------------------------------------------------------------------------------------
def parse_severity_minutes(text: str, *, name: str = "REMINDER_UPDATE_MINUTES") -> dict[str, int]:
    """``sev-1:30,sev-2:60`` → ``{"sev-1": 30, "sev-2": 60}``; severities not named get no reminder.

    Raises ``ImproperlyConfigured`` naming the bad part, so a typo stops start-up instead of
    silently turning reminders off.
    """
    minutes: dict[str, int] = {}
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        severity, sep, value = (s.strip() for s in part.partition(":"))
        if not sep or severity.lower() not in Severity.values:
            raise ImproperlyConfigured(
                f"{name}: `{part}` is not `<severity>:<minutes>` with a severity of {', '.join(Severity.values)} "
                f"(e.g. {DEFAULT_UPDATE_MINUTES})."
            )
        if not value.isdigit() or int(value) < 1:
            raise ImproperlyConfigured(f"{name}: `{part}` needs a whole number of minutes of at least 1.")
        minutes[severity.lower()] = int(value)
    return minutes


def update_minutes() -> dict[str, int]:
    return parse_severity_minutes(getattr(settings, "REMINDER_UPDATE_MINUTES", DEFAULT_UPDATE_MINUTES))


def _positive(name: str, default: int) -> int:
    value = getattr(settings, name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ImproperlyConfigured(f"{name} must be a whole number of at least 1 (got {value!r}).")
    return value


def unassigned_minutes() -> int:
    return _positive("REMINDER_UNASSIGNED_MINUTES", 15)


def rca_due_days() -> int:
    return _positive("RCA_DUE_DAYS", 5)


def check_settings() -> None:
    """Called at start-up (``SlackbridgeConfig.ready``): a bad value is a clear error, not a silent default."""
    update_minutes()
    unassigned_minutes()
    rca_due_days()
    _positive("CHANNEL_ARCHIVE_DAYS", 7)


# --- what is due ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Due:
    incident: Incident
    kind: ReminderKind
    due_at: datetime
    quiet_for: timedelta  # how long the cause has lasted when the window ended (for the wording)


def is_maintenance(incident: Incident) -> bool:
    return getattr(incident, "kind", "incident") == "maintenance"


def due_reminders(now: datetime | None = None, *, incident_id: int | None = None) -> list[Due]:
    """Every reminder whose window has ended by ``now`` and whose cause still holds (of one incident if given)."""
    now = now or timezone.now()
    in_slack = SlackMessage.objects.filter(kind=MessageKind.HEADLINE).exclude(ts="")
    if incident_id is not None:
        in_slack = in_slack.filter(incident_id=incident_id)
    candidates = Incident.objects.filter(pk__in=in_slack.values("incident_id")).filter(
        Q(status__in=OPEN_STATUSES) | Q(status=Status.RESOLVED, severity__in=RCA_SEVERITIES, rca_link="")
    )
    incidents = [i for i in candidates if not is_maintenance(i)]
    if not incidents:
        return []
    ids = [i.pk for i in incidents]
    sent = Reminder.objects.filter(incident_id__in=ids).values("incident_id", "kind")
    last_sent, counts = {}, {}
    for r in sent.annotate(last=Max("due_at"), count=Count("id")):
        last_sent[(r["incident_id"], r["kind"])] = r["last"]
        counts[(r["incident_id"], r["kind"])] = r["count"]
    snoozed = dict(ReminderSnooze.objects.filter(incident_id__in=ids).values_list("incident_id", "until"))
    per_severity = update_minutes()
    due: list[Due] = []
    for incident in incidents:
        for kind, start, every in _causes(incident, per_severity):
            if kind == ReminderKind.RCA and counts.get((incident.pk, kind), 0) >= RCA_REMINDERS_MAX:
                continue
            previous = last_sent.get((incident.pk, kind))
            due_at = max(start, previous or start) + every
            if snoozed.get(incident.pk) and snoozed[incident.pk] > due_at:
                due_at = snoozed[incident.pk]
            if due_at <= now:
                due.append(Due(incident, kind, due_at, due_at - start))
    return due


def _causes(incident: Incident, per_severity: dict[str, int]) -> Iterable[tuple[ReminderKind, datetime, timedelta]]:
    """(kind, when the cause began, window length) for each reminder this incident may need now."""
    if incident.is_open:
        minutes = per_severity.get(incident.severity)
        if minutes:
            yield ReminderKind.UPDATE, last_update_at(incident), timedelta(minutes=minutes)
        if not (incident.point or incident.point_name) and incident.severity in UNASSIGNED_SEVERITIES:
            yield ReminderKind.UNASSIGNED, unassigned_since(incident), timedelta(minutes=unassigned_minutes())
    elif incident.status == Status.RESOLVED and incident.closed_at and not incident.rca_link:
        if incident.severity in RCA_SEVERITIES:
            yield ReminderKind.RCA, incident.closed_at, timedelta(days=rca_due_days())


def last_update_at(incident: Incident) -> datetime:
    """When people last told the public something (for internal incidents: wrote anything)."""
    rows = IncidentUpdate.objects.filter(incident=incident).exclude(source=Source.SYSTEM)
    if incident.visibility == Visibility.PUBLIC:
        rows = rows.filter(visibility=Visibility.PUBLIC)
    return rows.aggregate(last=Max("created_at"))["last"] or incident.created_at


def unassigned_since(incident: Incident) -> datetime:
    """When it last became open or lost its point person (its creation otherwise)."""
    start = incident.created_at
    rows = (
        IncidentUpdate.objects.filter(incident=incident)
        .filter(Q(changes__has_key="point") | Q(changes__has_key="point_name") | Q(changes__has_key="status"))
        .order_by("-number")
        .values("created_at", "changes")[:20]
    )
    for row in rows:
        changes = row["changes"] or {}
        status = changes.get("status")
        reopened = isinstance(status, list) and len(status) == 2 and status[0] not in (None, *OPEN_STATUSES)
        if reopened or "point" in changes or "point_name" in changes:
            return max(start, row["created_at"])
    return start


# --- sending ----------------------------------------------------------------------------------------------------
def run_due() -> dict:
    """The ``slack.reminders`` job: send every reminder that is due. Safe to run any time, on any worker."""
    if not slack_enabled() or not settings.SLACK_INCIDENTS_CHANNEL:
        return {"outcome": "off"}
    sent = skipped = 0
    for item in due_reminders():
        try:
            if send(item):
                sent += 1
            else:
                skipped += 1
        except sync.Busy:
            skipped += 1  # being synced right now: the next run sends it
        except SlackCallError as err:
            logger.warning("Reminder %s for %s not posted (%s); the thread sync will show it", item.kind, item, err)
            skipped += 1
    return {"outcome": "done", "sent": sent, "skipped": skipped}


def send(item: Due) -> bool:
    """Record and post one reminder under the incident's sync lease; False if it was no longer due
    or someone else sent it."""
    incident_id = item.incident.pk
    owner, lease = uuid.uuid4().hex, f"incident:{incident_id}"
    sync.lease_acquire(lease, owner)
    try:
        fresh = [d for d in due_reminders(incident_id=incident_id) if d.kind == item.kind]
        if not fresh:
            return False
        item = fresh[0]
        head = SlackMessage.objects.filter(incident_id=incident_id, kind=MessageKind.HEADLINE).exclude(ts="").first()
        if head is None:
            return False
        try:
            with transaction.atomic():
                reminder = Reminder.objects.create(incident_id=incident_id, kind=item.kind, due_at=item.due_at)
                entry = services.incident_add_system_note(
                    incident_id=incident_id, message=blocks.timeline_text(item), record={"reminder": str(item.kind)}
                )
                Reminder.objects.filter(pk=reminder.pk).update(entry_number=entry.number)
                claim = SlackMessage.objects.create(
                    incident_id=incident_id, kind=MessageKind.REPLY, entry_number=entry.number, channel=head.channel
                )
        except IntegrityError:
            return False  # another worker sent this window's reminder
        message = blocks.reminder_message(item, mention=_mention(item.incident), base_url=settings.PUBLIC_BASE_URL)
        sync.lease_renew(lease, owner)
        channel, ts = sync._post_claimed(claim, text=message["text"], blocks=message["blocks"], thread_ts=head.ts)
        SlackMessage.objects.filter(pk=claim.pk).update(channel=channel, ts=ts, posted_at=timezone.now())
        return True
    finally:
        sync.lease_release(lease, owner)


def _mention(incident: Incident) -> str:
    """Who is asked: the point person, else the reporter (when a Slack user)."""
    for slack_id in (incident.point, incident.created_by):
        if slack_id and services.SLACK_USER_ID.match(slack_id):
            return slack_id
    return ""


# --- snooze and the RCA list ------------------------------------------------------------------------------------
def snooze(*, incident_id: int, user_id: str, minutes: int = SNOOZE_MINUTES) -> ReminderSnooze:
    """Quiet this incident's reminders for ``minutes``, leaving a ``system`` row that says who did it."""
    until = timezone.now() + timedelta(minutes=minutes)
    name = Person.objects.filter(slack_id=user_id).values_list("display_name", flat=True).first() or "someone"
    with transaction.atomic():
        state, _ = ReminderSnooze.objects.update_or_create(
            incident_id=incident_id, defaults={"until": until, "by": user_id[:32]}
        )
        services.incident_add_system_note(
            incident_id=incident_id,
            message=f"Reminders snoozed for {minutes} min (until {until:%H:%M} UTC) by @{name}.",
            record={"snoozed_until": until},
        )
    return state


def rca_due(now: datetime | None = None) -> list[tuple[Incident, datetime]]:
    """Sev-1/2 incidents resolved without an RCA link (that were live in Slack), with the RCA's due date,
    soonest due first."""
    now = now or timezone.now()
    in_slack = SlackMessage.objects.filter(kind=MessageKind.HEADLINE).values("incident_id")
    incidents = Incident.objects.filter(
        pk__in=in_slack, status=Status.RESOLVED, severity__in=RCA_SEVERITIES, rca_link=""
    ).order_by("closed_at", "id")
    days = timedelta(days=rca_due_days())
    return [(i, i.closed_at + days) for i in incidents if not is_maintenance(i)]
