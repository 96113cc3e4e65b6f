"""Test data built through the services, the way real incidents are made."""

from datetime import datetime
from itertools import count

from django.utils import timezone

from incidents import services
from incidents.models import Component, Incident, Severity, Source, Status, Visibility

_seq = count(1)


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
