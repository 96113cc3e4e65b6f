"""Public status rules and uptime, in one place (pure functions over loaded rows).

Selectors fetch; this module decides: a component's status from the worst open public
incident (SPEC §2), the page indicator, and the per-day strip and uptime % (SPEC §4):
per UTC day, minutes in `major_outage` count as down, `partial_outage` as 0.3 down,
`degraded_performance` and maintenance as up.

`daily_downtime` is the one place that turns a component's day into down minutes. It
prefers a stored daily figure when one exists (probe roll-ups, SPEC §10: passed in as
`stored`), and derives the figure from public incident impact otherwise.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings

from incidents.models import SEVERITY_IMPACT, ComponentStatus, Severity

UPTIME_DAYS = 90
UPTIME_DAYS_PHONE = 30
MINUTES_PER_DAY = 24 * 60

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
# SPEC §4: how much of a minute in each status counts as down.
DOWNTIME_WEIGHT = {
    ComponentStatus.MAJOR_OUTAGE: 1.0,
    ComponentStatus.PARTIAL_OUTAGE: 0.3,
    ComponentStatus.DEGRADED_PERFORMANCE: 0.0,
    ComponentStatus.UNDER_MAINTENANCE: 0.0,
    ComponentStatus.OPERATIONAL: 0.0,
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


def indicator_for(*, impacts: list[str], component_statuses: list[str]) -> str:
    """The page's `status.indicator`: worst of open incident impacts and component statuses."""
    candidates = ["none", *impacts, *(COMPONENT_STATUS_INDICATOR[ComponentStatus(s)] for s in component_statuses)]
    return max(candidates, key=INDICATOR_RANK.__getitem__)


def severity_status(severity: str) -> str:
    """The component status an open incident of `severity` causes."""
    return IMPACT_COMPONENT_STATUS[SEVERITY_IMPACT[Severity(severity)]]


def component_status(
    *, override: str, worst_severity: str | None, detected: str = "", in_maintenance: bool = False
) -> str:
    """Override, else the worst of open incidents' impact and what a probe detected; an active
    maintenance shows as `under_maintenance` unless that is worse (SPEC §2, §8, §10)."""
    if override:
        return override
    status = ComponentStatus.OPERATIONAL if worst_severity is None else severity_status(worst_severity)
    if detected:
        status = worst_component_status([status, detected])
    if (
        in_maintenance
        and COMPONENT_STATUS_RANK[ComponentStatus(status)] < COMPONENT_STATUS_RANK[ComponentStatus.UNDER_MAINTENANCE]
    ):
        status = ComponentStatus.UNDER_MAINTENANCE
    return status


def worst_component_status(statuses: list[str]) -> str:
    return max(statuses, key=lambda s: COMPONENT_STATUS_RANK[ComponentStatus(s)], default=ComponentStatus.OPERATIONAL)


@dataclass
class UptimeDay:
    """One bar of a component's strip: the worst status that UTC day, its incidents and down minutes."""

    day: date
    status: str = ComponentStatus.OPERATIONAL
    incidents: list[str] = field(default_factory=list)
    down_minutes: float = 0.0


@dataclass(frozen=True)
class Outage:
    """A public incident's effect on one component: `status` from `start` to `end` (None while open)."""

    component_id: int
    incident_id: int
    status: str
    start: datetime
    end: datetime | None


def daily_downtime(outages: Iterable[Outage], *, day: date, now: datetime, stored: float | None = None) -> float:
    """Down minutes of one component on one UTC day (SPEC §4 weights).

    A stored daily figure (e.g. a probe roll-up) wins when there is one. Otherwise the
    day's minutes are swept once: at each minute the worst overlapping outage counts, so
    two incidents at once are not counted twice. Minutes after `now` are not counted.
    """
    if stored is not None:
        return stored
    day_start = datetime.combine(day, time.min, tzinfo=UTC)
    day_end = min(day_start + timedelta(days=1), max(now, day_start))
    spans = []
    for outage in outages:
        weight = DOWNTIME_WEIGHT[ComponentStatus(outage.status)]
        start = max(outage.start, day_start)
        end = min(outage.end or now, day_end)
        if weight > 0 and end > start:
            spans.append((start, end, weight))
    if not spans:
        return 0.0
    edges = sorted({t for s, e, _ in spans for t in (s, e)})
    down = 0.0
    for left, right in zip(edges, edges[1:], strict=False):
        weight = max((w for s, e, w in spans if s <= left and e >= right), default=0.0)
        down += weight * (right - left).total_seconds() / 60
    return down


def uptime_strips(
    outages: Iterable[Outage],
    *,
    now: datetime,
    days: int = UPTIME_DAYS,
    stored: Mapping[tuple[int, date], float] | None = None,
) -> dict[int, list[UptimeDay]]:
    """Per component id, one `UptimeDay` per UTC day (oldest first, ending today).

    Components with neither outages nor stored figures are left out (`empty_strip`).
    """
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    stored = stored or {}
    by_component: dict[int, list[Outage]] = {}
    for outage in outages:
        by_component.setdefault(outage.component_id, []).append(outage)
    for component_id, _ in stored:
        by_component.setdefault(component_id, [])
    strips: dict[int, list[UptimeDay]] = {}
    prefix = settings.INCIDENT_PREFIX
    for component_id, items in by_component.items():
        strip = [UptimeDay(first + timedelta(days=n)) for n in range(days)]
        # Each day's downtime sweeps only the outages that touch that day (issue 17: sweeping every
        # outage of the window for each of the 90 days grew with the square of the incidents).
        touching: list[list[Outage]] = [[] for _ in range(days)]
        for outage in items:
            begin = max(outage.start.astimezone(UTC).date(), first)
            end = min((outage.end.astimezone(UTC).date() if outage.end else today), today)
            for n in range((begin - first).days, (end - first).days + 1):
                entry = strip[n]
                touching[n].append(outage)
                if COMPONENT_STATUS_RANK[ComponentStatus(outage.status)] > COMPONENT_STATUS_RANK[entry.status]:
                    entry.status = outage.status
                key = f"{prefix}-{outage.incident_id}"
                if key not in entry.incidents:
                    entry.incidents.append(key)
        for n, entry in enumerate(strip):
            entry.down_minutes = daily_downtime(
                touching[n], day=entry.day, now=now, stored=stored.get((component_id, entry.day))
            )
        strips[component_id] = strip
    return strips


def stored_down_minutes(
    figures: Mapping[tuple[int, date], tuple[float, float]], *, now: datetime
) -> dict[tuple[int, date], float]:
    """Probe roll-ups ({(component, day): (down s, observed s)}) as down minutes of the day.

    The observed share of a day stands for the whole day (today: up to `now`), so a probe
    that ran for part of a day still weighs that day fully.
    """
    today = now.astimezone(UTC).date()
    elapsed = (now - datetime.combine(today, time.min, tzinfo=UTC)).total_seconds() / 60
    out = {}
    for (component_id, day), (down, observed) in figures.items():
        if observed > 0:
            out[(component_id, day)] = down / observed * (elapsed if day == today else MINUTES_PER_DAY)
    return out


def empty_strip(*, now: datetime, days: int = UPTIME_DAYS) -> list[UptimeDay]:
    """A strip of `days` operational days ending today (a component without incidents)."""
    today = now.astimezone(UTC).date()
    return [UptimeDay(today - timedelta(days=days - 1 - n)) for n in range(days)]


def uptime_percent(strip: list[UptimeDay], *, now: datetime, days: int | None = None) -> float:
    """Uptime % over the last `days` bars of `strip` (all by default); today counts up to `now`."""
    bars = strip[-days:] if days else strip
    if not bars:
        return 100.0
    today = now.astimezone(UTC).date()
    elapsed_today = (now - datetime.combine(today, time.min, tzinfo=UTC)).total_seconds() / 60
    total = sum(MINUTES_PER_DAY if bar.day != today else max(elapsed_today, 1.0) for bar in bars)
    down = sum(bar.down_minutes for bar in bars)
    return max(0.0, 100.0 * (1 - down / total))
