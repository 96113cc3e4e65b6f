"""Reads shared by more than one caller (public API, pages, Slack, admin)."""

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Exists, Max, OuterRef, Prefetch, Q, QuerySet, Subquery, prefetch_related_objects
from django.utils import timezone

from incidents import status
from incidents.models import (
    BACKFILL_MESSAGE,
    MAINTENANCE_ACTIVE_STATUSES,
    OPEN_STATUSES,
    SEVERITY_IMPACT,
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

NOT_ASSIGNED = "Not assigned"
_KEY = re.compile(r"^\s*#?(?:(?P<prefix>[A-Za-z]+)-)?(?P<id>\d{1,12})\s*$")


def parse_incident_key(text: str) -> int | None:
    """`DCL-12`, `dcl-12`, `#12` or `12` → 12; anything else (or another prefix) → None."""
    match = _KEY.match(text or "")
    if not match:
        return None
    prefix = match.group("prefix")
    if prefix and prefix.upper() != settings.INCIDENT_PREFIX.upper():
        return None
    return int(match.group("id"))


def incident_get(*, incident_id: int) -> Incident | None:
    return Incident.objects.prefetch_related("components").filter(pk=incident_id).first()


def incident_public_queryset() -> QuerySet[Incident]:
    """Incidents the public may see: public and not marked invalid."""
    return Incident.objects.filter(visibility=Visibility.PUBLIC).exclude(status=Status.INVALID)


def public_updates_prefetch() -> Prefetch:
    """An incident's public entries (those with a public sequence number), newest first."""
    return Prefetch(
        "updates",
        queryset=IncidentUpdate.objects.filter(public_number__isnull=False).order_by("-public_number"),
        to_attr="public_updates",
    )


def incident_get_public(*, key: str) -> Incident | None:
    incident_id = parse_incident_key(key)
    if incident_id is None:
        return None
    return (
        incident_public_queryset()
        .prefetch_related("components", public_updates_prefetch())
        .filter(pk=incident_id)
        .first()
    )


def incident_was_withdrawn(*, incident_id: int) -> bool:
    """An `invalid` public incident that had been shown to the public (410 rather than 404)."""
    return Incident.objects.filter(
        pk=incident_id, visibility=Visibility.PUBLIC, status=Status.INVALID, public_entries__gt=0
    ).exists()


def incidents_open(*, include_internal: bool = True) -> QuerySet[Incident]:
    """Open incidents, most severe first, then oldest report first (the legacy order)."""
    qs = Incident.objects.filter(status__in=OPEN_STATUSES)
    if not include_internal:
        qs = qs.filter(visibility=Visibility.PUBLIC)
    return qs.order_by("severity", "reported_at", "id")


def incidents_recently_closed(*, days: int = 14, include_internal: bool = True) -> QuerySet[Incident]:
    since = timezone.now() - timedelta(days=days)
    qs = Incident.objects.filter(status=Status.RESOLVED, closed_at__gte=since)
    if not include_internal:
        qs = qs.filter(visibility=Visibility.PUBLIC)
    return qs.order_by("-closed_at", "-id")


def incident_list_legacy() -> tuple[list[Incident], list[Incident]]:
    """The `/list` payload: open incidents and a bounded window of closed ones (LEGACY.md order).

    Components of both lists are fetched in one query, so the whole payload costs three.
    """
    public = incident_public_queryset()
    open_incidents = list(public.filter(status__in=OPEN_STATUSES).order_by("severity", "reported_at", "id"))
    since = timezone.now() - timedelta(days=settings.LIST_CLOSED_DAYS)
    closed = list(
        public.filter(status=Status.RESOLVED, reported_at__gte=since).order_by("-reported_at", "-id")[
            : settings.LIST_CLOSED_LIMIT
        ]
    )
    prefetch_related_objects([*open_incidents, *closed], "components")
    return open_incidents, closed


def display_names(incidents: list[Incident]) -> dict[str, str]:
    """Stored display names of every point/contact in `incidents`, in one query."""
    ids = {i.point for i in incidents if i.point} | {i.contact for i in incidents if i.contact}
    if not ids:
        return {}
    return dict(Person.objects.filter(slack_id__in=ids).values_list("slack_id", "display_name"))


def person_label(*, slack_id: str, free_text: str, names: dict[str, str]) -> str:
    """What to show for a point/contact: stored Slack name, then free text, never a raw Slack id."""
    if slack_id and slack_id in names:
        return names[slack_id]
    if free_text:
        return free_text
    return "Assigned" if slack_id else NOT_ASSIGNED


def staff_slack_user_id(*, user_id: int | None) -> str:
    """The Slack user id a staff account is linked to ("" when none): its admin edits' author."""
    if user_id is None:
        return ""
    return StaffSlackIdentity.objects.filter(user_id=user_id).values_list("slack_user_id", flat=True).first() or ""


def components_ordered() -> QuerySet[Component]:
    return Component.objects.order_by("position", "name")


# ---------------------------------------------------------------------------
# Public status (Statuspage v2 API, status page, feeds).

# How many of the newest ids the stamp counts, to notice rows whose transaction commits after a later one.
STAMP_RECENT_IDS = 200


def public_version_stamp() -> str:
    """A cheap fingerprint of everything the public side shows, from public data only.

    Public ETags (and the cache of rendered bodies) are derived from it, so a 304 costs this
    one query. Every public change appends a public timeline entry (append-only, never
    deleted): the newest public entry's id plus the number of public entries among the last
    `STAMP_RECENT_IDS` ids changes with every committed public change, even when a
    transaction commits after one that took a later id. `MAX(public_modified_at)` catches an
    incident withdrawn from the public side (that row is internal); the small component and
    people tables are counted and their max timestamps catch edits.

    Internal incidents and internal notes move none of these (SPEC §4: public ETags derive
    from public data only). People's names are refreshed for everyone on a timer, so their
    part says nothing about internal incidents. Each part is a primary-key or index lookup
    (the public entries through a partial index), so the cost does not grow with the history.
    """
    q = connection.ops.quote_name
    incident, update, component, person, uptime = (
        m._meta.db_table for m in (Incident, IncidentUpdate, Component, Person, ComponentDailyUptime)
    )
    public = f"{q('public_number')} IS NOT NULL"
    top = f"(SELECT MAX({q('id')}) FROM {q(update)} WHERE {public})"  # noqa: S608 - names from model meta
    # The LIMIT changes no result (at most that many ids lie above `top - STAMP_RECENT_IDS`) but tells the
    # planner so: without it PostgreSQL guessed a third of the table at 1M rows and started parallel
    # workers, ~10 ms per stamp (issue 17, docs/BENCHMARKS.md growth).
    recent = (
        f"SELECT 1 FROM {q(update)} WHERE {public} AND {q('id')} > {top} - {STAMP_RECENT_IDS} LIMIT {STAMP_RECENT_IDS}"  # noqa: S608 - names from model meta
    )
    sql = (
        f"SELECT {top}, (SELECT COUNT(*) FROM ({recent}) recent),"  # noqa: S608 - table names from model meta, no user input
        f" (SELECT MAX({q('public_modified_at')}) FROM {q(incident)}),"
        f" (SELECT COUNT(*) FROM {q(component)}), (SELECT MAX({q('updated_at')}) FROM {q(component)}),"
        f" (SELECT COUNT(*) FROM {q(person)}), (SELECT MAX({q('refreshed_at')}) FROM {q(person)}),"
        f" (SELECT MAX({q('updated_at')}) FROM {q(uptime)})"  # probe roll-ups change the uptime % shown
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    return hashlib.sha256(repr(row).encode()).hexdigest()[:32]


def components_with_status() -> list[Component]:
    """Every component with `.derived_status` set (SPEC §2), in one query.

    Severity values sort from worst (`sev-1`) to least, so the first open public incident
    by severity is a component's worst. A correlated subquery over the open incidents
    only: aggregating over a join with every incident of the history scanned it all.
    """
    worst = (
        Incident.objects.filter(components=OuterRef("pk"), status__in=OPEN_STATUSES, visibility=Visibility.PUBLIC)
        .order_by("severity")
        .values("severity")[:1]
    )
    maintenance = Incident.objects.filter(
        components=OuterRef("pk"),
        kind=Kind.MAINTENANCE,
        status__in=MAINTENANCE_ACTIVE_STATUSES,
        visibility=Visibility.PUBLIC,
    )
    components = list(
        Component.objects.annotate(worst_severity=Subquery(worst), in_maintenance=Exists(maintenance)).order_by(
            "position", "name"
        )
    )
    for component in components:
        component.derived_status = status.component_status(
            override=component.status_override,
            worst_severity=component.worst_severity,
            detected=component.detected_status,
            in_maintenance=component.in_maintenance,
        )
        # The page says "detected by monitoring" when the probe is what sets the status shown.
        component.detected_by_monitoring = (
            bool(component.detected_status and not component.status_override)
            and component.derived_status == component.detected_status
        )
    return components


def _public_detail_queryset() -> QuerySet[Incident]:
    return incident_public_queryset().prefetch_related("components", public_updates_prefetch())


def incidents_public_unresolved() -> list[Incident]:
    """Open public incidents, most severe first, with components and public updates (3 queries)."""
    return list(_public_detail_queryset().filter(status__in=OPEN_STATUSES).order_by("severity", "-reported_at", "-id"))


def incidents_public_recent(*, limit: int = 50) -> list[Incident]:
    """The `limit` most recent public incidents (Statuspage's incidents.json), newest first; no maintenances."""
    return list(_public_detail_queryset().filter(kind=Kind.INCIDENT).order_by("-reported_at", "-id")[:limit])


def incidents_public_reported_since(*, since: datetime, limit: int) -> list[Incident]:
    """Public incidents reported since `since`, newest first, with their components (2 queries)."""
    return list(
        incident_public_queryset()
        .filter(reported_at__gte=since)
        .prefetch_related("components")
        .order_by("-reported_at", "-id")[:limit]
    )


def incidents_public_page(*, offset: int, limit: int) -> list[Incident]:
    """One page of the public history, newest first, with public updates; `limit + 1` rows to tell if more exist.

    Maintenances are part of the history (shown as such); cancelled ones leave it (SPEC §8).
    """
    qs = _public_detail_queryset().exclude(status=Status.CANCELLED)
    return list(qs.order_by("-reported_at", "-id")[offset : offset + limit + 1])


# Statuspage's scheduled-maintenances.json lists this many, newest window first.
MAINTENANCES_LIMIT = 50


def _public_maintenances() -> QuerySet[Incident]:
    """Public maintenances, cancelled ones left out (Statuspage has no such status)."""
    return _public_detail_queryset().filter(kind=Kind.MAINTENANCE).exclude(status=Status.CANCELLED)


def maintenances_public_recent(*, limit: int = MAINTENANCES_LIMIT) -> list[Incident]:
    """Upcoming, active and completed public maintenances, latest window first (3 queries)."""
    return list(_public_maintenances().order_by("-scheduled_for", "-id")[:limit])


def maintenances_public_upcoming() -> list[Incident]:
    """Public maintenances not started yet, soonest first."""
    return list(_public_maintenances().filter(status=Status.SCHEDULED).order_by("scheduled_for", "id"))


def public_current() -> tuple[list[Incident], list[Incident], list[Incident]]:
    """(open public incidents, active maintenances, upcoming maintenances) in one read (3 queries).

    The page and summary.json need all three; one query over both kinds (and its two
    prefetches) keeps them within their query budget. Orders as the selectors above and below.
    """
    rows = list(
        _public_detail_queryset()
        .filter(
            Q(status__in=OPEN_STATUSES)
            | Q(kind=Kind.MAINTENANCE, status__in=(Status.SCHEDULED, *MAINTENANCE_ACTIVE_STATUSES))
        )
        .order_by("severity", "-reported_at", "-id")
    )
    incidents = [r for r in rows if r.kind == Kind.INCIDENT]
    maintenances = sorted((r for r in rows if r.kind == Kind.MAINTENANCE), key=lambda m: (m.scheduled_for, m.pk))
    active = sorted((m for m in maintenances if m.is_active_maintenance), key=lambda m: (m.scheduled_until, m.pk))
    return incidents, active, [m for m in maintenances if m.status == Status.SCHEDULED]


def maintenances_public_active() -> list[Incident]:
    """Public maintenances in progress or being verified, soonest end first."""
    return list(_public_maintenances().filter(status__in=MAINTENANCE_ACTIVE_STATUSES).order_by("scheduled_until", "id"))


def maintenances_not_over() -> QuerySet[Incident]:
    """Maintenances scheduled, in progress or being verified, internal ones included, soonest start first
    (Slack's `/incidents`)."""
    statuses = (Status.SCHEDULED, *MAINTENANCE_ACTIVE_STATUSES)
    return Incident.objects.filter(kind=Kind.MAINTENANCE, status__in=statuses).order_by("scheduled_for", "id")


def maintenances_active(*, include_internal: bool = True) -> QuerySet[Incident]:
    """Maintenances in progress or being verified (Slack's topic lists them after the open incidents)."""
    qs = Incident.objects.filter(kind=Kind.MAINTENANCE, status__in=MAINTENANCE_ACTIVE_STATUSES)
    if not include_internal:
        qs = qs.filter(visibility=Visibility.PUBLIC)
    return qs.order_by("scheduled_for", "id")


def public_updates_latest(*, limit: int = 50) -> list[IncidentUpdate]:
    """Newest public timeline entries of public incidents (feeds), with their incident, in one query."""
    return list(
        IncidentUpdate.objects.filter(public_number__isnull=False, incident__visibility=Visibility.PUBLIC)
        .exclude(incident__status=Status.INVALID)
        .select_related("incident")
        .order_by("-created_at", "-id")[:limit]
    )


def uptime_strips(*, now: datetime | None = None) -> dict[int, list[status.UptimeDay]]:
    """Per component id, its 90-day strip (`status.uptime_strips`): a day with a stored probe
    figure takes it, any other day is judged by public incident impact. Two queries."""
    now = now or timezone.now()
    stored = status.stored_down_minutes(daily_uptime_figures(now=now), now=now)
    return status.uptime_strips(uptime_outages(now=now), now=now, stored=stored)


def uptime_percentages(*, now: datetime | None = None) -> dict[int, float]:
    """Component id → 90-day uptime % (2 decimals) as the page shows it; components missing are 100 %."""
    now = now or timezone.now()
    return {pk: round(status.uptime_percent(strip, now=now), 2) for pk, strip in uptime_strips(now=now).items()}


def attach_uptime(components: list, *, now: datetime | None = None) -> list:
    """Set `.uptime_percent` on components (admin lists, v2 components' extra key)."""
    figures = uptime_percentages(now=now)
    for component in components:
        component.uptime_percent = figures.get(component.pk, 100.0)
    return components


def daily_uptime_figures(*, now: datetime | None = None, days: int = status.UPTIME_DAYS) -> dict:
    """Stored daily figures (probe roll-ups) in the window: {(component id, day): (down s, observed s)}."""
    now = now or timezone.now()
    first = now.astimezone(UTC).date() - timedelta(days=days - 1)
    rows = ComponentDailyUptime.objects.filter(day__gte=first, observed_seconds__gt=0).values_list(
        "component_id", "day", "down_seconds", "observed_seconds"
    )
    return {(component_id, day): (down, observed) for component_id, day, down, observed in rows}


def uptime_outages(*, now: datetime | None = None, days: int = status.UPTIME_DAYS) -> list[status.Outage]:
    """Public incidents' effect on their components over the last `days` UTC days (`status.uptime_strips`).

    One query over the incidents that overlap the window, however long the history is:
    open, or resolved inside the window (`closed_at` is set iff resolved) — a UNION of two
    ranges of the (visibility, status, closed_at) index.
    """
    now = now or timezone.now()
    first = now.astimezone(UTC).date() - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    through = Incident.components.through
    fields = ("component_id", "incident_id", "incident__severity", "incident__reported_at", "incident__closed_at")
    public = through.objects.filter(incident__visibility=Visibility.PUBLIC)
    rows = (
        public.filter(incident__status__in=OPEN_STATUSES)
        .values_list(*fields)
        .union(
            public.filter(incident__status=Status.RESOLVED, incident__closed_at__gte=start).values_list(*fields),
            all=True,
        )
    )
    return [
        status.Outage(
            component_id=component_id,
            incident_id=incident_id,
            status=status.severity_status(severity),
            start=reported_at,
            end=closed_at,
        )
        for component_id, incident_id, severity, reported_at, closed_at in rows
        if reported_at <= now
    ]


# Statuspage-style default text for a public timeline row that changed the status without a message.
STATUS_DEFAULT_BODY = {
    Status.INVESTIGATING: "We are investigating this issue.",
    Status.IDENTIFIED: "The issue has been identified and a fix is being worked on.",
    Status.MONITORING: "A fix has been implemented and we are monitoring the results.",
    Status.RESOLVED: "This incident has been resolved.",
    Status.SCHEDULED: "Maintenance is scheduled.",
    Status.IN_PROGRESS: "Scheduled maintenance is currently in progress. We will provide updates as necessary.",
    Status.VERIFYING: "Verification is currently underway for the maintenance items.",
    Status.COMPLETED: "The scheduled maintenance has been completed.",
    Status.CANCELLED: "This scheduled maintenance has been cancelled.",
}


@dataclass(frozen=True)
class PublicUpdate:
    """One entry of an incident's public timeline as the public sees it (API, pages, feeds)."""

    incident_id: int
    number: int
    status: str
    body: str
    created_at: datetime


def public_update_view(incident: Incident, update: IncidentUpdate) -> PublicUpdate | None:
    """What the public sees of one public timeline entry, or None when it says nothing to them.

    Shown: the first public entry (creation, or the change that made the incident public),
    entries with a public message, entries that changed the status or the severity. Not
    shown: field edits without a message (points, links, typos), and entries recording a
    move to `invalid` (a staff decision). `changes` is never exposed: it holds Slack ids.
    An internal note attached to a public change stays internal. The first row of a backfill
    or an import is dated by when the incident happened, and the staff's words about the
    backfill ("Backfilled.", "Imported from …") give way to the description.
    """
    if update.public_number is None or update.status == Status.INVALID:
        return None
    changes = update.changes or {}
    body = update.message.strip() if update.visibility == Visibility.PUBLIC else ""
    created_at = update.created_at
    if update.number == 1:
        created_at = incident.reported_at
        if "backfill" in changes or update.source == Source.IMPORT:
            if incident.closed_at and update.status == Status.RESOLVED:
                created_at = incident.closed_at
            if update.source == Source.IMPORT or body == BACKFILL_MESSAGE:
                body = ""
    if not body:
        if update.public_number == 1 or "visibility" in changes:
            body = incident.description or STATUS_DEFAULT_BODY.get(update.status, "")
        elif "status" in changes:
            body = STATUS_DEFAULT_BODY.get(update.status, "")
        elif "severity" in changes and incident.kind == Kind.INCIDENT:
            severity = changes["severity"][1]
            impact = SEVERITY_IMPACT.get(severity, "none") if severity in Severity.values else "none"
            body = f"Impact is now {impact}."
    if not body:
        return None
    return PublicUpdate(
        incident_id=incident.pk,
        number=update.public_number,
        status=update.status,
        body=body,
        created_at=created_at,
    )


# Subscriber events of a maintenance (SPEC §7): the status a public timeline row moved it to.
MAINTENANCE_EVENTS = {
    Status.SCHEDULED: "maintenance.scheduled",
    Status.IN_PROGRESS: "maintenance.started",
    Status.COMPLETED: "maintenance.completed",
    Status.CANCELLED: "maintenance.cancelled",
}


def maintenance_event(incident: Incident, update: IncidentUpdate) -> str | None:
    """`maintenance.scheduled|started|completed|cancelled` when this row announces one, else None.

    Row 1 of a public maintenance scheduled ahead is `scheduled` (a staff backfill is not);
    a later public row that changed the status to one of the others is that event; a
    maintenance made public later announces itself with the row that did it.
    """
    if incident.kind != Kind.MAINTENANCE or incident.visibility != Visibility.PUBLIC:
        return None
    if update.visibility != Visibility.PUBLIC:
        return None
    changes = update.changes or {}
    if update.number == 1:
        return None if "backfill" in changes else MAINTENANCE_EVENTS.get(update.status)
    if "status" in changes or "visibility" in changes:
        return MAINTENANCE_EVENTS.get(update.status)
    return None


def public_timeline(incident: Incident) -> list[PublicUpdate]:
    """Newest first; needs `incident.public_updates` (see `public_updates_prefetch`)."""
    views = (public_update_view(incident, u) for u in incident.public_updates)
    return [v for v in views if v is not None]


def public_updated_at() -> datetime | None:
    """Last change of anything public (page `updated_at`), in two index lookups.

    Newest first over the (visibility, modified_at) index, stopping at the first
    non-invalid row; `MAX()` with these filters scanned every public incident.
    """
    incident = (
        incident_public_queryset()
        .filter(public_modified_at__isnull=False)
        .order_by("-public_modified_at")
        .values_list("public_modified_at", flat=True)
        .first()
    )
    component = Component.objects.aggregate(m=Max("updated_at"))["m"]
    stamps = [s for s in (incident, component) if s is not None]
    return max(stamps) if stamps else None
