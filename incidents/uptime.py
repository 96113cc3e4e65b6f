"""90-day uptime % per component (SPEC §4, §10).

Where monitoring has stored daily probe figures (`ComponentDailyUptime`), those decide;
otherwise the public incident impact does: time under an open critical incident counts as
down, under a major one as 0.3 down, anything less as up. The incidents app never imports
monitoring: the figures arrive through `services.component_uptime_record`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Sum
from django.utils import timezone

from incidents.models import (
    OPEN_STATUSES,
    SEVERITY_IMPACT,
    ComponentDailyUptime,
    Incident,
    Severity,
    Status,
    Visibility,
)

UPTIME_DAYS = 90
# Share of an impact's time that counts as down (SPEC §4: major_outage 1, partial_outage 0.3).
IMPACT_DOWN_WEIGHT = {"critical": 1.0, "major": 0.3}


def uptime_percentages(*, now: datetime | None = None, days: int = UPTIME_DAYS) -> dict[int, float]:
    """Component id → uptime % over the last `days` UTC days (today included, up to now).

    Components that appear in neither source are 100 % (callers use `.get(pk, 100.0)`).
    Two queries, whatever the history size.
    """
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    result = probe_uptime(first=first, last=today)
    window_start = datetime.combine(first, time.min, tzinfo=UTC)
    total = (now - window_start).total_seconds()
    for component_id, down in incident_down_seconds(start=window_start, end=now).items():
        if component_id not in result and total > 0:
            result[component_id] = _percent(1 - down / total)
    return result


def probe_uptime(*, first: date, last: date) -> dict[int, float]:
    rows = (
        ComponentDailyUptime.objects.filter(day__gte=first, day__lte=last)
        .values("component_id")
        .annotate(observed=Sum("observed_seconds"), down=Sum("down_seconds"))
    )
    return {r["component_id"]: _percent(1 - r["down"] / r["observed"]) for r in rows if r["observed"]}


def incident_down_seconds(*, start: datetime, end: datetime) -> dict[int, float]:
    """Per component, weighted down seconds in [start, end) from public incidents, overlaps counted once
    (at each moment the worst open incident decides)."""
    through = Incident.components.through
    public = through.objects.filter(
        incident__visibility=Visibility.PUBLIC,
        incident__severity__in=[s for s in Severity.values if SEVERITY_IMPACT[Severity(s)] in IMPACT_DOWN_WEIGHT],
        incident__reported_at__lt=end,
    )
    rows = (
        public.filter(incident__status__in=OPEN_STATUSES)
        .values_list("component_id", "incident__severity", "incident__reported_at", "incident__closed_at")
        .union(
            public.filter(incident__status=Status.RESOLVED, incident__closed_at__gt=start).values_list(
                "component_id", "incident__severity", "incident__reported_at", "incident__closed_at"
            ),
            all=True,
        )
    )
    spans: dict[int, list[tuple[datetime, datetime, float]]] = defaultdict(list)
    for component_id, severity, reported_at, closed_at in rows:
        begin, stop = max(reported_at, start), min(closed_at or end, end)
        if stop > begin:
            spans[component_id].append((begin, stop, IMPACT_DOWN_WEIGHT[SEVERITY_IMPACT[Severity(severity)]]))
    return {component_id: _worst_weighted_seconds(items) for component_id, items in spans.items()}


def _worst_weighted_seconds(spans: list[tuple[datetime, datetime, float]]) -> float:
    moments = sorted({m for begin, stop, _ in spans for m in (begin, stop)})
    total = 0.0
    for left, right in zip(moments, moments[1:], strict=False):
        weight = max((w for begin, stop, w in spans if begin <= left and stop >= right), default=0.0)
        total += weight * (right - left).total_seconds()
    return total


def _percent(fraction: float) -> float:
    return round(max(0.0, min(1.0, fraction)) * 100, 2)


def attach_uptime(components: list, *, now: datetime | None = None) -> list:
    """Set `.uptime_percent` on components loaded by `selectors.components_with_status` (2 queries)."""
    figures = uptime_percentages(now=now)
    for component in components:
        component.uptime_percent = figures.get(component.pk, 100.0)
    return components
