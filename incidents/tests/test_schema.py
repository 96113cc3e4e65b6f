"""OpenAPI schema of the public API (/api/schema/), and schemathesis checking real responses against it."""

from datetime import timedelta

import pytest
import schemathesis
import yaml
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings

from crashbot.wsgi import application
from incidents import services
from incidents.models import ComponentStatus, Severity, Source, Status
from incidents.tests.factories import PUBLIC_JSON_PATHS, make_component, make_incident


@pytest.mark.django_db
def test_schema_documents_exactly_the_public_api(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    document = yaml.safe_load(response.content)
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == set(PUBLIC_JSON_PATHS)
    enums = document["components"]["schemas"]
    assert enums["ImpactEnum"]["enum"] == ["none", "minor", "major", "critical", "maintenance"]
    assert "postmortem" in enums["IncidentStatusEnum"]["enum"]


# Loaded once at collection (the schema view needs no database): one test per operation.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@pytest.fixture
def populated(db):
    """A page with data in every shape (groups, override, open, resolved with RCA, notes).

    Requests go straight to the WSGI app, so, as Django's test client does, the app must not
    close the test's database connection at the end of each request (that rolls back the
    test transaction on PostgreSQL).
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    catalyst = make_component("Catalyst", group="Platform", description="Content servers")
    make_component("Builder", status_override=ComponentStatus.UNDER_MAINTENANCE)
    services.person_set_display_name(slack_id="U0POINT", display_name="Ada")
    open_one = make_incident("Catalyst down", severity=Severity.SEV1, components=[catalyst], point="U0POINT")
    services.incident_update(
        incident_id=open_one.pk, author="U0POINT", source=Source.SLACK, status=Status.MONITORING, message="Watching"
    )
    services.incident_add_note(incident_id=open_one.pk, author="U0POINT", source=Source.SLACK, message="note")
    closed = make_incident("Old one", severity=Severity.SEV5)
    services.incident_resolve(
        incident_id=closed.pk, author="U0X", source=Source.SLACK, rca_link="https://example.com/rca"
    )
    # Maintenances: one upcoming, one in progress with an update, one completed (SPEC §8).
    now = timezone.now()
    window = {"author": "U0OPS", "source": Source.SLACK, "components": [catalyst]}
    services.maintenance_schedule(
        title="Upcoming upgrade",
        scheduled_for=now + timedelta(days=1),
        scheduled_until=now + timedelta(days=1, hours=2),
        **window,
    )
    for title, final in (("Running upgrade", Status.VERIFYING), ("Done upgrade", Status.COMPLETED)):
        running = services.maintenance_schedule(
            title=title, scheduled_for=now, scheduled_until=now + timedelta(hours=2), **window
        )
        for status in (Status.IN_PROGRESS, final):
            services.maintenance_transition(
                incident_id=running.pk, status=status, author="U0OPS", source=Source.SLACK, message=f"Now {status}"
            )
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_public_api_conforms_to_its_schema(populated, case):
    # The WSGI transport does not decode compressed bodies (compression: test_public_edge.py).
    case.call_and_validate(headers={"Accept-Encoding": "identity"})
