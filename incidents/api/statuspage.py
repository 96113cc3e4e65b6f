"""Pure builders of Atlassian Statuspage v2 objects (page, status, components, incidents).

They take domain objects already loaded by the selectors and return plain dicts, so a
response costs the selectors' bounded queries and nothing else, and every value is
chosen here explicitly: Statuspage's keys and enums, ISO 8601 UTC timestamps, explicit
nulls. Ids are strings, as in Statuspage: the incident key (`DCL-12`), the component
slug, `group-<slug>` for a synthesised group.
"""

from collections.abc import Iterable
from datetime import UTC, datetime

from django.conf import settings
from django.utils.text import slugify

from incidents import selectors
from incidents import status as rules
from incidents.models import Component, ComponentStatus, Incident, Status

# Our stored status → Statuspage's incident status. A resolved incident whose
# root-cause analysis is linked is in Statuspage's `postmortem` state.
INCIDENT_STATUS = {
    Status.INVESTIGATING: "investigating",
    Status.IDENTIFIED: "identified",
    Status.MONITORING: "monitoring",
    Status.RESOLVED: "resolved",
}
INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved", "postmortem")
INCIDENT_IMPACTS = ("none", "minor", "major", "critical", "maintenance")
INDICATORS = INCIDENT_IMPACTS
MAINTENANCE_STATUSES = ("scheduled", "in_progress", "verifying", "completed")  # no `cancelled`: those leave v2
COMPONENT_STATUSES = tuple(ComponentStatus.values)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and `Z`, like Statuspage; None stays null."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def page_id() -> str:
    return slugify(settings.STATUS_PAGE_NAME) or "status"


def page(*, base_url: str, updated_at: datetime | None) -> dict:
    return {
        "id": page_id(),
        "name": settings.STATUS_PAGE_NAME,
        "url": base_url,
        "time_zone": settings.TIME_ZONE,
        "updated_at": iso(updated_at),
    }


def status(*, incidents: Iterable[Incident], components: Iterable[Component], maintenance_active: bool = False) -> dict:
    """The page indicator; `maintenance` while only maintenance is active (also one without components)."""
    indicator = rules.indicator_for(
        impacts=[i.impact for i in incidents if i.is_open] + (["maintenance"] if maintenance_active else []),
        component_statuses=[c.derived_status for c in components],
    )
    return {"indicator": indicator, "description": rules.INDICATOR_DESCRIPTION[indicator]}


def group_id(name: str) -> str:
    return f"group-{slugify(name) or 'unnamed'}"


def component(item: Component, *, status_value: str | None = None) -> dict:
    """One component; `status_value` is its derived status (`item.derived_status` when omitted).

    Crashbot's extra keys (Statuspage clients ignore them) come when the caller loaded them:
    `uptime_percent` and `detected_by_monitoring` (`selectors.attach_uptime`).
    """
    return {
        "id": item.slug,
        "name": item.name,
        "status": status_value or getattr(item, "derived_status", ComponentStatus.OPERATIONAL),
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "position": item.position,
        "description": item.description or None,
        "showcase": True,
        "start_date": None,
        "group_id": group_id(item.group) if item.group else None,
        "page_id": page_id(),
        "group": False,
        "only_show_if_degraded": False,
        **_extras(item),
    }


def _extras(item: Component) -> dict:
    if not hasattr(item, "uptime_percent"):
        return {}
    return {"uptime_percent": item.uptime_percent, "detected_by_monitoring": item.detected_by_monitoring}


def components(items: list[Component]) -> list[dict]:
    """Components in position order, each group (synthesised from `Component.group`) before its members.

    A group's status is the worst of its members', as on Statuspage.
    """
    members: dict[str, list[Component]] = {}
    for item in items:
        if item.group:
            members.setdefault(item.group, []).append(item)
    out: list[dict] = []
    emitted: set[str] = set()
    for item in items:
        if item.group and item.group not in emitted:
            emitted.add(item.group)
            group = members[item.group]
            out.append(
                {
                    "id": group_id(item.group),
                    "name": item.group,
                    "status": rules.worst_component_status([m.derived_status for m in group]),
                    "created_at": iso(min(m.created_at for m in group)),
                    "updated_at": iso(max(m.updated_at for m in group)),
                    "position": min(m.position for m in group),
                    "description": None,
                    "showcase": False,
                    "start_date": None,
                    "group_id": None,
                    "page_id": page_id(),
                    "group": True,
                    "only_show_if_degraded": False,
                    "components": [m.slug for m in group],
                }
            )
        out.append(component(item))
    return out


def incident_status(incident: Incident) -> str:
    if incident.is_maintenance:
        return incident.status
    if incident.status == Status.RESOLVED and incident.rca_link:
        return "postmortem"
    return INCIDENT_STATUS[Status(incident.status)]


def incident(item: Incident, *, url: str, component_status: dict[int, str]) -> dict:
    """One incident with its public updates, newest first (needs `public_updates` prefetched).

    `component_status` maps component id → derived status, for the affected components.
    """
    key = item.key
    return {
        "id": key,
        "name": item.title,
        "status": incident_status(item),
        # A backfilled or imported incident was created when it happened, not when it was entered.
        "created_at": iso(min(item.created_at, item.reported_at)),
        "updated_at": iso(item.public_modified_at or item.reported_at),
        "monitoring_at": iso(item.monitoring_at),
        "resolved_at": iso(item.closed_at),
        "impact": item.impact,
        "shortlink": url,
        "started_at": iso(item.reported_at),
        "page_id": page_id(),
        "incident_updates": [
            {
                "id": f"{key}-{u.number}",
                "status": u.status,
                "body": u.body,
                "incident_id": key,
                "created_at": iso(u.created_at),
                "updated_at": iso(u.created_at),
                "display_at": iso(u.created_at),
                "affected_components": None,
                "deliver_notifications": True,
                "custom_tweet": None,
                "tweet_id": None,
            }
            for u in selectors.public_timeline(item)
        ],
        "components": [component(c, status_value=component_status.get(c.pk)) for c in item.components.all()],
    }


def scheduled_maintenance(item: Incident, *, url: str, component_status: dict[int, str]) -> dict:
    """One maintenance as Statuspage shows it: an incident object with impact `maintenance`, its
    window (`scheduled_for`, `scheduled_until`) and maintenance statuses; `started_at` is when it
    actually started, or its scheduled start until then."""
    body = incident(item, url=url, component_status=component_status)
    body["started_at"] = iso(item.started_at or item.scheduled_for)
    body["scheduled_for"] = iso(item.scheduled_for)
    body["scheduled_until"] = iso(item.scheduled_until)
    return body
