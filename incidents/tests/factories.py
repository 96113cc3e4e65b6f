"""Test data built through the services, the way real incidents are made."""

from datetime import datetime
from itertools import count

from django.utils import timezone

from incidents import services
from incidents.models import Component, Incident, Severity, Source, Status, Visibility

_seq = count(1)

# Every public JSON endpoint (the legacy /list and the Statuspage v2 API).
PUBLIC_JSON_PATHS = [
    "/list",
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
    "/api/v2/scheduled-maintenances.json",
    "/api/v2/scheduled-maintenances/upcoming.json",
    "/api/v2/scheduled-maintenances/active.json",
]


def make_component(name: str | None = None, **fields) -> Component:
    n = next(_seq)
    name = name or f"Component {n}"
    return Component.objects.create(name=name, slug=fields.pop("slug", f"component-{n}"), **fields)


def make_incident(
    title: str = "Marketplace is down",
    *,
    severity: str = Severity.SEV3,
    status: str = Status.INVESTIGATING,
    visibility: str = Visibility.PUBLIC,
    reported_at: datetime | None = None,
    author: str = "U0REPORTER",
    source: str = Source.SLACK,
    **fields,
) -> Incident:
    return services.incident_create(
        title=title,
        severity=severity,
        status=status,
        visibility=visibility,
        reported_at=reported_at or timezone.now(),
        author=author,
        source=source,
        **fields,
    )


def admin_form_data(incident: Incident | None = None, **overrides) -> dict:
    """POST data of the admin incident form: a new incident's defaults, or `incident` as it is."""
    reported_at = incident.reported_at if incident else timezone.now()
    data = {
        "title": incident.title if incident else "Login fails",
        "description": incident.description if incident else "",
        "severity": incident.severity if incident else Severity.SEV2,
        "status": incident.status if incident else Status.INVESTIGATING,
        "visibility": incident.visibility if incident else Visibility.PUBLIC,
        "reported_at_0": reported_at.strftime("%Y-%m-%d"),
        "reported_at_1": reported_at.strftime("%H:%M:%S.%f"),
        "closed_at_0": "",
        "closed_at_1": "",
        "point": "",
        "contact": "",
        "point_name": "",
        "contact_name": "",
        "rca_link": "",
        "update_message": "",
        "seen_update_number": str(incident.update_number) if incident else "",
        "updates-TOTAL_FORMS": "0",
        "updates-INITIAL_FORMS": "0",
        "updates-MIN_NUM_FORMS": "0",
        "updates-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data
