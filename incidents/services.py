"""Every write to incidents goes through here, whatever the entry point.

Each service validates, writes the incident and exactly one timeline row in one
transaction, and sends `incident_changed` once that transaction has committed.
"""

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.models import (
    BACKFILL_MESSAGE,
    CLOSED_STATUSES,
    DETECTED_STATUSES,
    INCIDENT_STATUSES,
    MAINTENANCE_ACTIVE_STATUSES,
    MAINTENANCE_STATUSES,
    OPEN_STATUSES,
    Component,
    ComponentDailyUptime,
    Incident,
    IncidentUpdate,
    Kind,
    Person,
    Severity,
    Source,
    StaffSlackIdentity,
    Status,
    Visibility,
)
from incidents.signals import component_changed, incident_changed


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()

# Fields whose old and new values are recorded in a timeline row's `changes`.
TRACKED_FIELDS = (
    "title",
    "description",
    "severity",
    "status",
    "visibility",
    "reported_at",
    "acknowledged_at",
    "monitoring_at",
    "closed_at",
    "point",
    "contact",
    "point_name",
    "contact_name",
    "rca_link",
    "scheduled_for",
    "scheduled_until",
    "auto_start",
    "auto_complete",
    "started_at",
)
# Tracked only for a maintenance (an incident's defaults would only clutter its first row).
MAINTENANCE_ONLY_FIELDS = ("scheduled_for", "scheduled_until", "auto_start", "auto_complete", "started_at")
MESSAGE_MAX_LENGTH = 4000
# RCA links are shown to the public as links: web pages only (no ftp:, file:, javascript: …).
_validate_rca_url = URLValidator(schemes=["http", "https"])
DESCRIPTION_MAX_LENGTH = Incident._meta.get_field("description").max_length
FUTURE_TOLERANCE = timedelta(minutes=5)
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,31}$")
# Statuses an incident or a maintenance is created in as a backfill (already over).
BACKFILL_STATUSES = (Status.RESOLVED, Status.INVALID, Status.COMPLETED, Status.CANCELLED)
# The worker's own timeline rows (SPEC §2).
SYSTEM_AUTHOR = "crashbot"
# Characters XML 1.0 cannot carry (NUL and the C0 controls other than tab, newline and carriage
# return; lone surrogates; U+FFFE, U+FFFF).
XML_INVALID_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def incident_create(
    *,
    title: str,
    author: str,
    source: Source,
    description: str = "",
    severity: Severity = Severity.SEV3,
    status: Status = Status.INVESTIGATING,
    visibility: Visibility = Visibility.PUBLIC,
    reported_at: datetime | None = None,
    acknowledged_at: datetime | None = None,
    closed_at: datetime | None = None,
    point: str = "",
    contact: str = "",
    point_name: str = "",
    contact_name: str = "",
    rca_link: str = "",
    components: Iterable[Component | int] = (),
    message: str = "",
    incident_id: int | None = None,
    record: dict[str, Any] | None = None,
    public_update_number: int = 0,
    public_modified_at: datetime | None = None,
    modified_at: datetime | None = None,
    kind: Kind = Kind.INCIDENT,
    scheduled_for: datetime | None = None,
    scheduled_until: datetime | None = None,
    auto_start: bool = True,
    auto_complete: bool = True,
) -> Incident:
    """Open (or backfill) an incident; its timeline starts with row 1.

    An incident created already resolved or invalid is a backfill, and its first
    timeline row says so. `record` adds facts to row 1's `changes` as `{key: [None, value]}`
    (the import keeps the first version's id there to recognise what it already imported).
    An import passes the source's `update_number` and `modified_at` as the public ones, so
    legacy clients see the same values as before (SPEC §4); later public changes add to them.
    A public incident's row 1 is its first public entry; an internal one has none yet.
    `modified_at` keeps a source's last-change time (import); default now.
    """
    now = timezone.now()
    public = visibility == Visibility.PUBLIC and status != Status.INVALID
    incident = Incident(
        id=incident_id,
        kind=kind,
        scheduled_for=scheduled_for,
        scheduled_until=scheduled_until,
        auto_start=auto_start,
        auto_complete=auto_complete,
        title=(title or "").strip(),
        description=(description or "").strip(),
        severity=severity,
        status=status,
        visibility=visibility,
        reported_at=reported_at or now,
        acknowledged_at=acknowledged_at,
        closed_at=closed_at,
        point=(point or "").strip(),
        contact=(contact or "").strip(),
        point_name=(point_name or "").strip(),
        contact_name=(contact_name or "").strip(),
        rca_link=(rca_link or "").strip(),
        created_by=author,
        created_at=now,
        modified_by=author,
        modified_at=modified_at or now,
        public_entries=1 if public else 0,
        public_update_number=public_update_number,
        public_modified_at=(public_modified_at or modified_at or now) if public else None,
    )
    _apply_lifecycle(incident, now=now)
    incident_validate(incident, message=message, now=now)
    component_ids = _component_ids(components)
    backfill = status in BACKFILL_STATUSES
    with transaction.atomic():
        incident.save(force_insert=True)
        tracked = TRACKED_FIELDS if kind == Kind.MAINTENANCE else set(TRACKED_FIELDS) - set(MAINTENANCE_ONLY_FIELDS)
        changes = {
            f: [None, _jsonable(getattr(incident, f))] for f in TRACKED_FIELDS if f in tracked and getattr(incident, f)
        }
        if kind == Kind.MAINTENANCE:
            changes["kind"] = [None, kind.value if isinstance(kind, Kind) else kind]
            for flag in ("auto_start", "auto_complete"):  # False is worth recording too
                changes[flag] = [None, getattr(incident, flag)]
        if component_ids:
            incident.components.set(component_ids)
            changes["components"] = [[], _component_names(component_ids)]
        if backfill:
            changes["backfill"] = [None, True]
        for key, value in (record or {}).items():
            changes.setdefault(key, [None, _jsonable(value)])
        IncidentUpdate.objects.create(
            incident=incident,
            number=1,
            created_at=now,
            author=author,
            source=source,
            status=incident.status,
            message=(message or "").strip() or (BACKFILL_MESSAGE if backfill else ""),
            changes=changes,
            visibility=visibility,
            public_number=1 if public else None,
        )
        _notify_on_commit(incident.pk)
    return incident


def incident_update(
    *,
    incident_id: int,
    author: str,
    source: Source,
    message: str = "",
    message_visibility: Visibility = Visibility.PUBLIC,
    title: str = UNSET,
    description: str = UNSET,
    severity: Severity = UNSET,
    status: Status = UNSET,
    visibility: Visibility = UNSET,
    reported_at: datetime = UNSET,
    acknowledged_at: datetime | None = UNSET,
    closed_at: datetime | None = UNSET,
    point: str = UNSET,
    contact: str = UNSET,
    point_name: str = UNSET,
    contact_name: str = UNSET,
    rca_link: str = UNSET,
    components: Iterable[Component | int] = UNSET,
    scheduled_for: datetime = UNSET,
    scheduled_until: datetime = UNSET,
    auto_start: bool = UNSET,
    auto_complete: bool = UNSET,
) -> Incident:
    """Change any subset of fields and/or post an update message.

    Writes one timeline row. When nothing changes and there is no message, nothing is
    written and the incident is returned as it was (callers compare `update_number`).
    Raises `Incident.DoesNotExist` for an unknown id and `ValidationError` for bad input.

    Public numbering (SPEC §3): a row is a public entry when the incident is public after
    the change, is or was shown (not `invalid`), and the row changes a field or carries a
    public message; only public entries move the public counters. A message posted while
    the incident is internal is internal.
    """
    given = {
        "title": title,
        "description": description,
        "severity": severity,
        "status": status,
        "visibility": visibility,
        "reported_at": reported_at,
        "acknowledged_at": acknowledged_at,
        "closed_at": closed_at,
        "point": point,
        "contact": contact,
        "point_name": point_name,
        "contact_name": contact_name,
        "rca_link": rca_link,
        "scheduled_for": scheduled_for,
        "scheduled_until": scheduled_until,
        "auto_start": auto_start,
        "auto_complete": auto_complete,
    }
    message = (message or "").strip()
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident_id)
        before = {f: getattr(incident, f) for f in TRACKED_FIELDS}
        old_component_ids = set(incident.components.values_list("id", flat=True))
        for field, value in given.items():
            if value is UNSET:
                continue
            if isinstance(value, str):
                value = value.strip()
            setattr(incident, field, value)
        now = timezone.now()
        _apply_lifecycle(incident, now=now)
        incident_validate(incident, message=message, now=now)

        changes = {
            f: [_jsonable(before[f]), _jsonable(getattr(incident, f))]
            for f in TRACKED_FIELDS
            if before[f] != getattr(incident, f)
        }
        new_component_ids = old_component_ids if components is UNSET else set(_component_ids(components))
        if new_component_ids != old_component_ids:
            changes["components"] = [_component_names(old_component_ids), _component_names(new_component_ids)]
        if not changes and not message:
            return incident

        was_public = before["visibility"] == Visibility.PUBLIC
        is_public = incident.visibility == Visibility.PUBLIC
        shown = (was_public and before["status"] != Status.INVALID) or (is_public and incident.status != Status.INVALID)
        row_visibility = message_visibility if is_public else Visibility.INTERNAL
        public_number = None
        if is_public and shown and (changes or row_visibility == Visibility.PUBLIC):
            incident.public_entries += 1
            public_number = incident.public_entries
            if public_number > 1:
                incident.public_update_number += 1
            incident.public_modified_at = now
        elif was_public and not is_public:
            incident.public_modified_at = now  # withdrawn from the public side: a public change
        incident.update_number += 1
        incident.modified_by = author
        incident.modified_at = now
        incident.save()
        if "components" in changes:
            incident.components.set(new_component_ids)
        IncidentUpdate.objects.create(
            incident=incident,
            number=incident.update_number + 1,
            created_at=now,
            author=author,
            source=source,
            status=incident.status,
            message=message,
            changes=changes,
            visibility=row_visibility,
            public_number=public_number,
        )
        _notify_on_commit(incident.pk)
    return incident


def incident_resolve(
    *,
    incident_id: int,
    author: str,
    source: Source,
    message: str = "",
    rca_link: str = UNSET,
    closed_at: datetime = UNSET,
) -> Incident:
    return incident_update(
        incident_id=incident_id,
        author=author,
        source=source,
        message=message,
        status=Status.RESOLVED,
        rca_link=rca_link,
        closed_at=closed_at,
    )


def incident_reopen(
    *, incident_id: int, author: str, source: Source, message: str = "", status: Status = Status.INVESTIGATING
) -> Incident:
    if status not in OPEN_STATUSES:
        raise ValidationError({"status": f"An incident can only be reopened as one of: {', '.join(OPEN_STATUSES)}."})
    return incident_update(incident_id=incident_id, author=author, source=source, message=message, status=status)


def incident_mark_invalid(*, incident_id: int, author: str, source: Source, message: str = "") -> Incident:
    return incident_update(
        incident_id=incident_id, author=author, source=source, message=message, status=Status.INVALID
    )


def incident_set_rca_link(
    *, incident_id: int, author: str, source: Source, rca_link: str, message: str = ""
) -> Incident:
    """Set the root-cause analysis link; allowed at any time, also after the incident closed."""
    return incident_update(incident_id=incident_id, author=author, source=source, message=message, rca_link=rca_link)


def incident_acknowledge(*, incident_id: int, author: str, source: Source, message: str = "") -> Incident:
    """Someone has taken the incident: record when, and make them point person if there is none.

    A `message` goes in the same timeline row, so a message that fails validation leaves the
    acknowledgement unsaved too (one action, one transaction)."""
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident_id)
        point = UNSET
        if not incident.point and SLACK_USER_ID.match(author):
            point = author
        acknowledged_at = timezone.now() if incident.acknowledged_at is None else UNSET
        return incident_update(
            incident_id=incident_id,
            author=author,
            source=source,
            message=message,
            point=point,
            acknowledged_at=acknowledged_at,
        )


def incident_add_note(*, incident_id: int, author: str, source: Source, message: str) -> Incident:
    """An internal note: kept in the timeline and shown to staff, never public."""
    if not (message or "").strip():
        raise ValidationError({"message": "A note needs some text."})
    return incident_update(
        incident_id=incident_id,
        author=author,
        source=source,
        message=message,
        message_visibility=Visibility.INTERNAL,
    )


def component_set_detected(*, component_id: int, status: str, note: str = "", at: datetime | None = None) -> bool:
    """Record what monitoring detected for a component: `status` is a detected status, or "" for healthy.

    Returns whether anything changed; a change sends `component_changed` after commit, once.
    The public status honours it (selectors), unless an override or maintenance applies.
    """
    if status and status not in {value for value, _ in DETECTED_STATUSES}:
        raise ValidationError({"detected_status": f"“{status}” is not a status monitoring can detect."})
    with transaction.atomic():
        component = Component.objects.select_for_update().get(pk=component_id)
        old = component.detected_status
        if old == status:
            return False
        when = at or timezone.now()
        component.detected_status = status
        component.detected_since = when if status else None
        component.save(update_fields=["detected_status", "detected_since", "updated_at"])
        transaction.on_commit(
            lambda: component_changed.send(
                sender=Component, component_id=component_id, old_status=old, new_status=status, note=note, at=when
            )
        )
    return True


def component_uptime_record(
    *, component_id: int, day: date, observed_seconds: int, down_seconds: int, checks: int = 0, failed_checks: int = 0
) -> ComponentDailyUptime:
    """Store (or replace) one component's probe figures for one UTC day; safe to re-run for the same day."""
    observed_seconds = max(0, min(int(observed_seconds), 86400))
    down_seconds = max(0, min(int(down_seconds), observed_seconds))
    row, _ = ComponentDailyUptime.objects.update_or_create(
        component_id=component_id,
        day=day,
        defaults={
            "observed_seconds": observed_seconds,
            "down_seconds": down_seconds,
            "checks": checks,
            "failed_checks": failed_checks,
            "source": "probe",
        },
    )
    return row


def component_uptime_prune(*, before: date) -> int:
    """Forget daily probe figures older than `before` (the page shows 90 days)."""
    deleted, _ = ComponentDailyUptime.objects.filter(day__lt=before).delete()
    return deleted


def incident_add_system_note(*, incident_id: int, message: str, record: dict[str, Any] | None = None) -> IncidentUpdate:
    """A row of the worker's own (a reminder, a snooze): source `system`, author `crashbot`, never public.

    It changes no field of the incident, so who last modified it and when stay as they were;
    `record` is kept in the row's `changes` as `{key: [None, value]}` (e.g. which reminder).
    Returns the new row, whose number the caller needs to post it itself.
    """
    message = (message or "").strip()
    if not message:
        raise ValidationError({"message": "A system note needs some text."})
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident_id)
        incident.update_number += 1
        Incident.objects.filter(pk=incident.pk).update(update_number=incident.update_number)
        entry = IncidentUpdate.objects.create(
            incident=incident,
            number=incident.update_number + 1,
            created_at=timezone.now(),
            author=SYSTEM_AUTHOR,
            source=Source.SYSTEM,
            status=incident.status,
            message=message[:MESSAGE_MAX_LENGTH],
            changes={key: [None, _jsonable(value)] for key, value in (record or {}).items()},
            visibility=Visibility.INTERNAL,
        )
        _notify_on_commit(incident.pk)
    return entry


# -- scheduled maintenance (SPEC §8) ---------------------------------------------------------------------------
# Where a maintenance may go from each status; `completed` and `cancelled` are final.
MAINTENANCE_TRANSITIONS = {
    Status.SCHEDULED: (Status.IN_PROGRESS, Status.CANCELLED),
    Status.IN_PROGRESS: (Status.VERIFYING, Status.COMPLETED, Status.CANCELLED),
    Status.VERIFYING: (Status.IN_PROGRESS, Status.COMPLETED),
    Status.COMPLETED: (),
    Status.CANCELLED: (),
}
# Who may schedule a maintenance whose start has passed: staff backfilling it, an import.
BACKFILL_SOURCES = (Source.ADMIN, Source.IMPORT)


def maintenance_schedule(
    *,
    title: str,
    author: str,
    source: Source,
    scheduled_for: datetime,
    scheduled_until: datetime,
    description: str = "",
    visibility: Visibility = Visibility.PUBLIC,
    components: Iterable[Component | int] = (),
    auto_start: bool = True,
    auto_complete: bool = True,
    message: str = "",
    status: Status = Status.SCHEDULED,
) -> Incident:
    """Announce a maintenance window; the worker starts and completes it (`incidents.maintenance_jobs`).

    From Slack (or any source but staff and imports) the start may not be in the past; staff
    may backfill one, in any maintenance status.
    """
    now = timezone.now()
    if source not in BACKFILL_SOURCES:
        if status != Status.SCHEDULED:
            raise ValidationError({"status": "A new maintenance starts as scheduled."})
        if scheduled_for and scheduled_for < now - FUTURE_TOLERANCE:
            raise ValidationError(
                {"scheduled_for": "The start is in the past; schedule it from now on (staff can backfill in admin)."}
            )
    return incident_create(
        kind=Kind.MAINTENANCE,
        title=title,
        author=author,
        source=source,
        description=description,
        status=status,
        visibility=visibility,
        reported_at=now,
        components=components,
        message=message,
        scheduled_for=scheduled_for,
        scheduled_until=scheduled_until,
        auto_start=auto_start,
        auto_complete=auto_complete,
    )


def maintenance_transition(
    *,
    incident_id: int,
    status: Status,
    author: str,
    source: Source,
    message: str = "",
    only_from: Iterable[Status] | None = None,
) -> Incident | None:
    """Move a maintenance to `status` (start, verify, complete, cancel), one timeline row.

    `only_from` makes it conditional, checked under the row lock: when the maintenance is
    no longer in one of those statuses (someone or another worker moved it first), nothing
    is written and None is returned — how the worker stays idempotent. Without it, a move
    the lifecycle does not allow raises `ValidationError` saying where it can go.
    """
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident_id)
        if incident.kind != Kind.MAINTENANCE:
            raise ValidationError({"status": f"{incident.key} is an incident, not a maintenance."})
        current = Status(incident.status)
        if only_from is not None and current not in tuple(only_from):
            return None
        if status not in MAINTENANCE_TRANSITIONS[current]:
            allowed = ", ".join(MAINTENANCE_TRANSITIONS[current]) or "nowhere (it is over)"
            raise ValidationError(
                {"status": f"{incident.key} is {current.label.lower()}; from there it can go to {allowed}."}
            )
        return incident_update(
            incident_id=incident_id,
            author=author,
            source=source,
            status=status,
            message=message,
        )


def maintenance_remind(*, incident_id: int, message: str) -> Incident | None:
    """The worker's reminder before a maintenance starts: an internal `system` row, once.

    Slack shows it in the maintenance's thread (the thread sync posts every row with a
    message); the public never sees it.
    """
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident_id)
        if incident.kind != Kind.MAINTENANCE or incident.status != Status.SCHEDULED or incident.reminded_at:
            return None
        now = timezone.now()
        Incident.objects.filter(pk=incident_id).update(reminded_at=now)
        return incident_update(
            incident_id=incident_id,
            author=SYSTEM_AUTHOR,
            source=Source.SYSTEM,
            message=message,
            message_visibility=Visibility.INTERNAL,
        )


def person_set_display_name(*, slack_id: str, display_name: str) -> Person:
    """Store a Slack user's display name (called by the Slack worker after `users.info`)."""
    person, _ = Person.objects.update_or_create(
        slack_id=slack_id,
        defaults={"display_name": display_name.strip()[:200] or slack_id, "refreshed_at": timezone.now()},
    )
    return person


def staff_identity_link(
    *,
    user_id: int,
    slack_user_id: str,
    slack_team_id: str = "",
    via: StaffSlackIdentity.LinkedVia = StaffSlackIdentity.LinkedVia.ADMIN,
) -> StaffSlackIdentity:
    """Make a staff account that Slack user: their admin edits are then written as that Slack user.

    Replaces the account's previous link. Refused (ValidationError): a malformed id, or an id already
    linked to another account — two accounts as one Slack user would make the timeline lie.
    """
    slack_user_id = slack_user_id.strip()
    if not SLACK_USER_ID.match(slack_user_id):
        raise ValidationError({"slack_user_id": "A Slack user id looks like U012ABCDEF (or W… on Enterprise Grid)."})
    taken = f"{slack_user_id} is already linked to another staff account."
    if StaffSlackIdentity.objects.filter(slack_user_id=slack_user_id).exclude(user_id=user_id).exists():
        raise ValidationError({"slack_user_id": taken})
    try:
        with transaction.atomic():
            identity, _ = StaffSlackIdentity.objects.update_or_create(
                user_id=user_id,
                defaults={
                    "slack_user_id": slack_user_id,
                    "slack_team_id": slack_team_id.strip(),
                    "linked_via": via,
                    "linked_at": timezone.now(),
                },
            )
    except IntegrityError as exc:  # the same id linked by someone else at the same moment
        raise ValidationError({"slack_user_id": taken}) from exc
    return identity


def staff_identity_signed_in(*, identity_id: int, slack_team_id: str) -> None:
    """Record a Sign in with Slack (shown in admin: when each link was last used)."""
    StaffSlackIdentity.objects.filter(pk=identity_id).update(
        last_sign_in_at=timezone.now(), slack_team_id=slack_team_id
    )


def _apply_lifecycle(incident: Incident, *, now: datetime) -> None:
    """Keep the lifecycle timestamps consistent with the status (SPEC §2, §8)."""
    status = incident.status
    if status in CLOSED_STATUSES:
        if incident.closed_at is None:
            incident.closed_at = now
    else:
        incident.closed_at = None
    if incident.kind == Kind.MAINTENANCE:
        # A maintenance is never acknowledged or monitored; it starts (first move past `scheduled`).
        if status in (*MAINTENANCE_ACTIVE_STATUSES, Status.COMPLETED) and incident.started_at is None:
            incident.started_at = min(now, incident.closed_at) if incident.closed_at else now
        return
    if status == Status.MONITORING and incident.monitoring_at is None:
        incident.monitoring_at = now
    taken = bool(incident.point) or status in (Status.IDENTIFIED, Status.MONITORING, Status.RESOLVED)
    if incident.acknowledged_at is None and taken:
        # A backfilled or back-dated resolution was acknowledged at the latest when it closed.
        incident.acknowledged_at = min(now, incident.closed_at) if incident.closed_at else now


def incident_validate(incident: Incident, *, message: str = "", now: datetime | None = None) -> None:
    """Raise `ValidationError` (per field) if `incident` may not be saved; writes nothing.

    Forms call it to show errors next to their fields before calling a service.
    """
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    try:
        incident.full_clean(exclude=["components"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if len(incident.description) > DESCRIPTION_MAX_LENGTH:
        errors.setdefault("description", []).append(
            f"The description can be at most {DESCRIPTION_MAX_LENGTH} characters (it has {len(incident.description)})."
        )
    if "\n" in incident.title:
        errors.setdefault("title", []).append("The title must be a single line.")
    _validate_kind(incident, errors)
    if incident.reported_at and incident.reported_at > now + FUTURE_TOLERANCE:
        errors.setdefault("reported_at", []).append("The report time cannot be in the future.")
    # Compared to the second: forms show times to the second, so a resolution in the same second as
    # the report comes back from a form a fraction of a second "before" it.
    if (
        incident.closed_at
        and incident.reported_at
        and incident.closed_at.replace(microsecond=0) < incident.reported_at.replace(microsecond=0)
    ):
        errors.setdefault("closed_at", []).append("The incident cannot close before it was reported.")
    if incident.closed_at and incident.closed_at > now + FUTURE_TOLERANCE:
        errors.setdefault("closed_at", []).append("The close time cannot be in the future.")
    if incident.modified_at and incident.modified_at > now + FUTURE_TOLERANCE:
        errors.setdefault("modified_at", []).append("The last-change time cannot be in the future.")
    for field in ("point", "contact"):
        value = getattr(incident, field)
        if value and not SLACK_USER_ID.match(value):
            errors.setdefault(field, []).append(f"“{value}” is not a Slack user id (like U012ABCDEF).")
    # PostgreSQL cannot store NUL in text (SQLite can), and XML (the Atom/RSS feeds) cannot carry
    # the other control characters: refuse them the same way on both databases.
    texts = {f: getattr(incident, f) for f in ("title", "description", "rca_link")} | {"message": message}
    for field, value in texts.items():
        bad = XML_INVALID_CHARACTERS.search(value or "")
        if bad:
            errors.setdefault(field, []).append(
                f"This text contains a control character (U+{ord(bad.group()):04X}) that cannot be shown; remove it."
            )
    if incident.rca_link and "rca_link" not in errors:
        try:
            _validate_rca_url(incident.rca_link)
        except ValidationError:
            errors["rca_link"] = ["The RCA link must be an http:// or https:// address."]
    if len(message) > MESSAGE_MAX_LENGTH:
        errors.setdefault("message", []).append(
            f"The update message can be at most {MESSAGE_MAX_LENGTH} characters (it has {len(message)})."
        )
    if errors:
        raise ValidationError(errors)


def _validate_kind(incident: Incident, errors: dict[str, list[str]]) -> None:
    """An incident has an incident status; a maintenance a maintenance status and a window (SPEC §8)."""
    if incident.kind == Kind.MAINTENANCE:
        if incident.status not in MAINTENANCE_STATUSES:
            errors.setdefault("status", []).append(
                f"A maintenance is one of: {', '.join(MAINTENANCE_STATUSES)} (not “{incident.status}”)."
            )
        if incident.scheduled_for is None:
            errors.setdefault("scheduled_for", []).append("A maintenance needs a start time.")
        if incident.scheduled_until is None:
            errors.setdefault("scheduled_until", []).append("A maintenance needs an end time.")
        elif incident.scheduled_for and incident.scheduled_until <= incident.scheduled_for:
            errors.setdefault("scheduled_until", []).append("The maintenance must end after it starts.")
        return
    if incident.status not in INCIDENT_STATUSES:
        errors.setdefault("status", []).append(
            f"An incident is one of: {', '.join(INCIDENT_STATUSES)} (not “{incident.status}”)."
        )
    if incident.scheduled_for or incident.scheduled_until:
        errors.setdefault("scheduled_for", []).append("Only a maintenance has a scheduled window.")


def _component_ids(components: Iterable[Component | int]) -> list[int]:
    ids = [c.pk if isinstance(c, Component) else int(c) for c in components]
    known = set(Component.objects.filter(pk__in=ids).values_list("pk", flat=True))
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ValidationError({"components": f"Unknown component id(s): {', '.join(map(str, unknown))}."})
    return sorted(set(ids))


def _component_names(ids: Iterable[int]) -> list[str]:
    return sorted(Component.objects.filter(pk__in=list(ids)).values_list("name", flat=True))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _notify_on_commit(incident_id: int) -> None:
    transaction.on_commit(lambda: incident_changed.send(sender=Incident, incident_id=incident_id))
