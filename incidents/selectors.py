"""Reads shared by more than one caller (public API, pages, Slack, admin)."""

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Exists, Max, OuterRef, Prefetch, Q, QuerySet, Subquery, prefetch_related_objects
from django.utils import timezone

from incidents.models import (
    MAINTENANCE_ACTIVE_STATUSES,
    OPEN_STATUSES,
    SEVERITY_IMPACT,
    Component,
    ComponentDailyUptime,
    ComponentStatus,
    Incident,
    IncidentUpdate,
    Kind,
    Person,
    Severity,
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
    return Prefetch(
        "updates",
        queryset=IncidentUpdate.objects.filter(visibility=Visibility.PUBLIC).order_by("-number"),
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


def components_ordered() -> QuerySet[Component]:
    return Component.objects.order_by("position", "name")


# ---------------------------------------------------------------------------
# Public status (Statuspage v2 API, status page, feeds).

# SPEC §2: a component's status follows the worst open public incident affecting it.
IMPACT_COMPONENT_STATUS = {
    "critical": ComponentStatus.MAJOR_OUTAGE,
    "major": ComponentStatus.PARTIAL_OUTAGE,
    "minor": ComponentStatus.DEGRADED_PERFORMANCE,
    "none": ComponentStatus.OPERATIONAL,
}
# Worst first; used to pick the worst of several statuses.
COMPONENT_STATUS_RANK = {
    ComponentStatus.MAJOR_OUTAGE: 4,
    ComponentStatus.PARTIAL_OUTAGE: 3,
    ComponentStatus.DEGRADED_PERFORMANCE: 2,
    ComponentStatus.UNDER_MAINTENANCE: 1,
    ComponentStatus.OPERATIONAL: 0,
}
# Statuspage's page indicator and its description, worst first.
INDICATOR_RANK = {"critical": 4, "major": 3, "minor": 2, "maintenance": 1, "none": 0}
INDICATOR_DESCRIPTION = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
    "maintenance": "Service Under Maintenance",
}
COMPONENT_STATUS_INDICATOR = {
    ComponentStatus.OPERATIONAL: "none",
    ComponentStatus.UNDER_MAINTENANCE: "maintenance",
    ComponentStatus.DEGRADED_PERFORMANCE: "minor",
    ComponentStatus.PARTIAL_OUTAGE: "major",
    ComponentStatus.MAJOR_OUTAGE: "critical",
}
UPTIME_DAYS = 90


# How many of the newest ids the stamp counts, to notice rows whose transaction commits after a later one.
STAMP_RECENT_IDS = 200


def public_version_stamp() -> str:
    """A cheap fingerprint of everything the public side shows, in one index-only query.

    Public ETags (and the cache of rendered bodies) are derived from it, so a 304 costs this
    one query. Every change to an incident appends a timeline row (append-only, never
    deleted), so the newest timeline id plus the number of rows among the last
    `STAMP_RECENT_IDS` ids changes with every committed change, even when a transaction
    commits after one that took a later id. The same pair over incidents catches rows
    written without a timeline row (bulk loads), `MAX(modified_at)` direct edits; the small
    component and people tables are counted and their max timestamps catch edits.

    Each part is a primary-key or index lookup, so the cost does not grow with the history
    (the first version's `COUNT(*)`/`SUM(update_number)` over all incidents scanned the
    table on every request). Internal rows are included on purpose: filtering would cost
    more, and a spurious change only costs one full response.
    """
    q = connection.ops.quote_name
    incident, update, component, person, uptime = (
        m._meta.db_table for m in (Incident, IncidentUpdate, Component, Person, ComponentDailyUptime)
    )

    def newest(table: str) -> str:
        top = f"(SELECT MAX({q('id')}) FROM {q(table)})"  # noqa: S608 - table names from model meta, no user input
        return f"{top}, (SELECT COUNT(*) FROM {q(table)} WHERE {q('id')} > {top} - {STAMP_RECENT_IDS})"  # noqa: S608

    sql = (
        f"SELECT {newest(update)}, {newest(incident)}, (SELECT MAX({q('modified_at')}) FROM {q(incident)}),"  # noqa: S608 - table names from model meta, no user input
        f" (SELECT COUNT(*) FROM {q(component)}), (SELECT MAX({q('updated_at')}) FROM {q(component)}),"
        f" (SELECT COUNT(*) FROM {q(person)}), (SELECT MAX({q('refreshed_at')}) FROM {q(person)}),"
        f" (SELECT MAX({q('updated_at')}) FROM {q(uptime)})"  # probe roll-ups change the uptime % shown
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    return hashlib.sha256(repr(row).encode()).hexdigest()[:32]


def indicator_for(*, impacts: list[str], component_statuses: list[str]) -> str:
    """The page's `status.indicator`: worst of open incident impacts and component statuses."""
    candidates = ["none", *impacts, *(COMPONENT_STATUS_INDICATOR[ComponentStatus(s)] for s in component_statuses)]
    return max(candidates, key=INDICATOR_RANK.__getitem__)


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
        component.derived_status = component_status(
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


def component_status(
    *, override: str, worst_severity: str | None, detected: str = "", in_maintenance: bool = False
) -> str:
    """Override first; else the worst of the incidents' impact, what a probe detected and an
    active maintenance (`under_maintenance`, which any outage outranks) (SPEC §2, §8, §10)."""
    if override:
        return override
    from_incidents = (
        ComponentStatus.OPERATIONAL
        if worst_severity is None
        else IMPACT_COMPONENT_STATUS[SEVERITY_IMPACT[Severity(worst_severity)]]
    )
    candidates = [from_incidents]
    if detected:
        candidates.append(detected)
    if in_maintenance:
        candidates.append(ComponentStatus.UNDER_MAINTENANCE)
    return worst_component_status(candidates)


def worst_component_status(statuses: list[str]) -> str:
    return max(statuses, key=lambda s: COMPONENT_STATUS_RANK[ComponentStatus(s)], default=ComponentStatus.OPERATIONAL)


def _public_detail_queryset() -> QuerySet[Incident]:
    return incident_public_queryset().prefetch_related("components", public_updates_prefetch())


def incidents_public_unresolved() -> list[Incident]:
    """Open public incidents, most severe first, with components and public updates (3 queries)."""
    return list(_public_detail_queryset().filter(status__in=OPEN_STATUSES).order_by("severity", "-reported_at", "-id"))


def incidents_public_recent(*, limit: int = 50) -> list[Incident]:
    """The `limit` most recent public incidents (Statuspage's incidents.json), newest first; no maintenances."""
    return list(_public_detail_queryset().filter(kind=Kind.INCIDENT).order_by("-reported_at", "-id")[:limit])


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


def maintenances_active(*, include_internal: bool = True) -> QuerySet[Incident]:
    """Maintenances in progress or being verified (Slack's topic lists them after the open incidents)."""
    qs = Incident.objects.filter(kind=Kind.MAINTENANCE, status__in=MAINTENANCE_ACTIVE_STATUSES)
    if not include_internal:
        qs = qs.filter(visibility=Visibility.PUBLIC)
    return qs.order_by("scheduled_for", "id")


def public_updates_latest(*, limit: int = 50) -> list[IncidentUpdate]:
    """Newest public timeline entries of public incidents (feeds), with their incident, in one query."""
    return list(
        IncidentUpdate.objects.filter(visibility=Visibility.PUBLIC, incident__visibility=Visibility.PUBLIC)
        .exclude(incident__status=Status.INVALID)
        .select_related("incident")
        .order_by("-created_at", "-id")[:limit]
    )


@dataclass
class UptimeDay:
    day: date
    status: str = ComponentStatus.OPERATIONAL
    incidents: list[str] = field(default_factory=list)


def uptime_days(*, today: date | None = None, days: int = UPTIME_DAYS) -> dict[int, list[UptimeDay]]:
    """Per component id, one `UptimeDay` per calendar day (UTC, oldest first) with the worst status that day.

    Built from public incident history in one query over the incidents that overlap the
    window, however long the history is.
    """
    today = today or timezone.now().astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    through = Incident.components.through
    # Open, or resolved inside the window (`closed_at` is set iff resolved): a UNION of two ranges
    # of the (visibility, status, closed_at) index in one query, not a scan of the history.
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
    strips: dict[int, list[UptimeDay]] = {}
    for component_id, incident_id, severity, reported_at, closed_at in rows:
        if reported_at.astimezone(UTC).date() > today:
            continue
        strip = strips.get(component_id)
        if strip is None:
            strip = strips[component_id] = [UptimeDay(first + timedelta(days=n)) for n in range(days)]
        status = IMPACT_COMPONENT_STATUS[SEVERITY_IMPACT[Severity(severity)]]
        rank = COMPONENT_STATUS_RANK[status]
        begin = max(reported_at.astimezone(UTC).date(), first)
        end = min((closed_at.astimezone(UTC).date() if closed_at else today), today)
        for n in range((begin - first).days, (end - first).days + 1):
            entry = strip[n]
            if rank > COMPONENT_STATUS_RANK[entry.status]:
                entry.status = status
            entry.incidents.append(f"{settings.INCIDENT_PREFIX}-{incident_id}")
    return strips


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
    """What the public sees of one public timeline row, or None when it says nothing to them.

    Shown: the first row, rows with a message, rows that changed the status or the
    severity. Not shown: field edits without a message (points, links, typos), and rows
    recording a move to `invalid` (a staff decision). `changes` is never exposed: it
    holds Slack ids.
    """
    if update.visibility != Visibility.PUBLIC or update.status == Status.INVALID:
        return None
    changes = update.changes or {}
    body = update.message.strip()
    if not body:
        if update.number == 1:
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
        incident_id=incident.pk, number=update.number, status=update.status, body=body, created_at=update.created_at
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
    incident = incident_public_queryset().order_by("-modified_at").values_list("modified_at", flat=True).first()
    component = Component.objects.aggregate(m=Max("updated_at"))["m"]
    stamps = [s for s in (incident, component) if s is not None]
    return max(stamps) if stamps else None


def empty_uptime(*, today: date | None = None, days: int = UPTIME_DAYS) -> list[UptimeDay]:
    """A strip of `days` operational days ending today (a component without incidents)."""
    today = today or timezone.now().astimezone(UTC).date()
    return [UptimeDay(today - timedelta(days=days - 1 - n)) for n in range(days)]
