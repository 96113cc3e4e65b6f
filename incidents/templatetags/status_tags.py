"""Template helpers of the public status page (rendering only; reads live in selectors)."""

from datetime import timedelta

from django import template
from django.utils.dateformat import format as date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from incidents import selectors
from incidents.markup import render_markdown
from incidents.models import ComponentStatus, Incident, Status
from incidents.status import UptimeDay

register = template.Library()

COMPONENT_STATUS_LABEL = {
    ComponentStatus.OPERATIONAL: "Operational",
    ComponentStatus.DEGRADED_PERFORMANCE: "Degraded performance",
    ComponentStatus.PARTIAL_OUTAGE: "Partial outage",
    ComponentStatus.MAJOR_OUTAGE: "Major outage",
    ComponentStatus.UNDER_MAINTENANCE: "Under maintenance",
}
IMPACT_LABEL = {
    "none": "No impact",
    "minor": "Minor",
    "major": "Major",
    "critical": "Critical",
    "maintenance": "Maintenance",
}


@register.filter
def markdown(text: str) -> SafeString:
    return render_markdown(text)


@register.filter
def component_status_label(status: str) -> str:
    return COMPONENT_STATUS_LABEL.get(status, status)


@register.filter
def impact_label(impact: str) -> str:
    return IMPACT_LABEL.get(impact, impact)


@register.filter
def status_label(status: str) -> str:
    """`in_progress` → "In progress" (any stored status; unknown text as it is)."""
    return Status(status).label if status in Status.values else status


@register.filter
def humanize_duration(value: timedelta | None) -> str:
    """`2 d 3 h`, `3 h 12 min`, `8 min`, `under a minute`."""
    if value is None:
        return ""
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min" if mins else "under a minute"


@register.filter
def public_timeline(incident: Incident) -> list[selectors.PublicUpdate]:
    return selectors.public_timeline(incident)


@register.simple_tag
def uptime_bars(days: list[UptimeDay], name: str) -> SafeString:
    """The bars of a component's strip, as the template loop rendered them but ~10× cheaper.

    Why a tag: 12 components × 90 days through the template engine were most of the
    status page's render time with a long history (issue 7 profile). Every value is escaped.
    Each bar is an image with its own label (date, status, incidents, downtime), reachable
    by keyboard and touch: the strip is one tab stop and the arrow keys move between days
    (static/status/status.js); the label shows on focus, not only on hover.
    """
    bars = []
    last = len(days) - 1
    for n, day in enumerate(days):
        if day.incidents:
            label = f"{COMPONENT_STATUS_LABEL.get(day.status, day.status)} ({', '.join(day.incidents)})"
        else:
            label = "No incidents"
        if day.down_minutes >= 1:
            label += f", {_minutes(day.down_minutes)} down"
        text = f"{date_format(day.day, 'D M j')}: {label}"
        tabindex = "0" if n == last else "-1"
        bars.append(
            f'<span class="bar status-{escape(day.status)}" role="img" tabindex="{tabindex}"'
            f' aria-label="{escape(name)}, {escape(text)}" data-tip="{escape(text)}"></span>'
        )
    return mark_safe("".join(bars))  # noqa: S308 - every interpolated value is escaped above


def _minutes(value: float) -> str:
    minutes = round(value)
    hours, mins = divmod(minutes, 60)
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


@register.filter
def percent(value: float) -> str:
    """`99.95%`, `100%`; never rounds a day with downtime up to 100%."""
    if value >= 100:
        return "100%"
    text = f"{value:.2f}"
    if text == "100.00":
        text = "99.99"
    return f"{text}%"


@register.inclusion_tag("status/_time.html")
def when(value, *, relative: bool = True) -> dict:
    """An absolute time with its zone ("Dec 1, 12:31 UTC"), and a relative one added by the script."""
    return {"value": value, "relative": relative}
