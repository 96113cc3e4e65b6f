"""Statuspage v2-compatible API: shapes (against our JSON schema), enums, semantics, public data only."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from jsonschema import Draft202012Validator, ValidationError

from incidents import services
from incidents.models import SEVERITY_IMPACT, ComponentStatus, Severity, Source, Status, Visibility
from incidents.tests.factories import make_component, make_incident

pytestmark = pytest.mark.django_db

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "statuspage_v2.json").read_text())
ENDPOINTS = {
    "/api/v2/summary.json": "summary",
    "/api/v2/status.json": "status_response",
    "/api/v2/components.json": "components_response",
    "/api/v2/incidents.json": "incidents_response",
    "/api/v2/incidents/unresolved.json": "incidents_response",
    "/api/v2/scheduled-maintenances.json": "scheduled_maintenances_response",
    "/api/v2/scheduled-maintenances/upcoming.json": "scheduled_maintenances_response",
    "/api/v2/scheduled-maintenances/active.json": "scheduled_maintenances_response",
}


def validate(body: dict, definition: str) -> None:
    Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{definition}"}).validate(body)


def get(client, path: str) -> dict:
    response = client.get(path)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()


@pytest.fixture
def populated():
    """A page with groups, a component override, open/closed/internal/invalid incidents and notes."""
    services.person_set_display_name(slack_id="U0POINT", display_name="Ada Point")
    api = make_component("Catalyst", group="Platform", position=1, description="Content servers")
    web = make_component("Marketplace", group="Platform", position=2)
    chat = make_component("Chat", position=3)
    make_component("Builder", position=4, status_override=ComponentStatus.UNDER_MAINTENANCE)
    now = timezone.now()
    major = make_incident(
        "Catalyst down", severity=Severity.SEV2, components=[api], point="U0POINT", reported_at=now - timedelta(hours=2)
    )
    services.incident_update(
        incident_id=major.pk, author="U0POINT", source=Source.SLACK, status=Status.IDENTIFIED, message="Found it"
    )
    services.incident_add_note(incident_id=major.pk, author="U0POINT", source=Source.SLACK, message="internal note")
    minor = make_incident("Slow chat", severity=Severity.SEV4, components=[chat])
    closed = make_incident("Old outage", severity=Severity.SEV1, components=[web], reported_at=now - timedelta(days=3))
    services.incident_resolve(
        incident_id=closed.pk, author="U0X", source=Source.SLACK, message="Fixed", rca_link="https://example.com/rca"
    )
    make_incident("Secret thing", severity=Severity.SEV1, components=[web], visibility=Visibility.INTERNAL)
    invalid = make_incident("False alarm", severity=Severity.SEV1, components=[web])
    services.incident_mark_invalid(incident_id=invalid.pk, author="U0X", source=Source.SLACK)
    window = {"author": "U0OPS", "source": Source.SLACK, "components": [chat]}
    upcoming = services.maintenance_schedule(
        title="Chat upgrade",
        scheduled_for=now + timedelta(days=1),
        scheduled_until=now + timedelta(days=1, hours=1),
        **window,
    )
    active = services.maintenance_schedule(
        title="Chat move", scheduled_for=now, scheduled_until=now + timedelta(hours=1), **window
    )
    services.maintenance_transition(incident_id=active.pk, status=Status.IN_PROGRESS, author="U0OPS", source="slack")
    return {"major": major, "minor": minor, "closed": closed, "upcoming": upcoming, "active": active}


@pytest.mark.parametrize(("path", "definition"), ENDPOINTS.items())
def test_shapes_match_the_statuspage_schema_when_empty(client, path, definition):
    validate(get(client, path), definition)


@pytest.mark.parametrize(("path", "definition"), ENDPOINTS.items())
def test_shapes_match_the_statuspage_schema_with_data(client, populated, path, definition):
    validate(get(client, path), definition)


def test_schema_rejects_what_statuspage_would_not_send():
    """The schema itself can fail: an unknown enum value or an extra key is rejected."""
    page = {"id": "p", "name": "P", "url": "http://x", "time_zone": "UTC", "updated_at": "2024-01-01T00:00:00.000Z"}
    validate(
        {"page": page, "status": {"indicator": "none", "description": "All Systems Operational"}}, "status_response"
    )
    with pytest.raises(ValidationError):
        validate({"page": page, "status": {"indicator": "red", "description": "x"}}, "status_response")
    with pytest.raises(ValidationError):
        validate(
            {"page": {**page, "slack": "U0"}, "status": {"indicator": "none", "description": "x"}}, "status_response"
        )
    local_time = {**page, "updated_at": "2024-01-01T00:00:00+02:00"}
    with pytest.raises(ValidationError):
        validate({"page": local_time, "status": {"indicator": "none", "description": "x"}}, "status_response")


def test_page_object(client, settings):
    settings.STATUS_PAGE_NAME = "Decentraland"
    body = get(client, "/api/v2/status.json")
    assert body["page"]["id"] == "decentraland"
    assert body["page"]["name"] == "Decentraland"
    assert body["page"]["url"] == "http://testserver"
    settings.PUBLIC_BASE_URL = "https://status.example.com"
    assert get(client, "/api/v2/status.json")["page"]["url"] == "https://status.example.com"


def test_all_operational_when_nothing_is_open(client):
    make_component("Catalyst")
    make_incident("Done", status=Status.RESOLVED)
    body = get(client, "/api/v2/summary.json")
    assert body["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert [c["status"] for c in body["components"]] == ["operational"]
    assert body["incidents"] == []
    assert body["scheduled_maintenances"] == []


@pytest.mark.parametrize(
    ("severity", "indicator", "description", "component_status"),
    [
        (Severity.SEV1, "critical", "Major System Outage", "major_outage"),
        (Severity.SEV2, "major", "Partial System Outage", "partial_outage"),
        (Severity.SEV3, "minor", "Minor Service Outage", "degraded_performance"),
        (Severity.SEV4, "minor", "Minor Service Outage", "degraded_performance"),
        (Severity.SEV5, "none", "All Systems Operational", "operational"),
    ],
)
def test_indicator_impact_and_component_status_follow_severity(
    client, severity, indicator, description, component_status
):
    component = make_component("Catalyst")
    make_incident("Trouble", severity=severity, components=[component])
    body = get(client, "/api/v2/summary.json")
    assert body["status"] == {"indicator": indicator, "description": description}
    assert body["components"][0]["status"] == component_status
    assert body["incidents"][0]["impact"] == SEVERITY_IMPACT[severity]


def test_component_takes_the_worst_open_public_incident(client, populated):
    body = get(client, "/api/v2/components.json")
    by_name = {c["name"]: c for c in body["components"]}
    assert by_name["Catalyst"]["status"] == "partial_outage"  # sev-2 open
    assert by_name["Chat"]["status"] == "degraded_performance"  # sev-4 open
    # Only a resolved, an internal and an invalid sev-1 touch the marketplace: it is operational.
    assert by_name["Marketplace"]["status"] == "operational"
    assert by_name["Builder"]["status"] == "under_maintenance"  # override


def test_groups_come_before_their_members_with_the_worst_status(client, populated):
    components = get(client, "/api/v2/components.json")["components"]
    names = [c["name"] for c in components]
    assert names == ["Platform", "Catalyst", "Marketplace", "Chat", "Builder"]
    group = components[0]
    assert group["group"] is True
    assert group["status"] == "partial_outage"
    catalyst = components[1]
    assert group["components"] == [catalyst["id"], components[2]["id"]]
    assert catalyst["group_id"] == group["id"]
    assert catalyst["group"] is False
    assert catalyst["description"] == "Content servers"
    assert components[3]["group_id"] is None
    assert components[3]["description"] is None


def test_summary_overall_status_is_the_worst(client, populated):
    body = get(client, "/api/v2/summary.json")
    assert body["status"]["indicator"] == "major"
    assert {i["name"] for i in body["incidents"]} == {"Catalyst down", "Slow chat"}


def test_maintenance_override_alone_gives_the_maintenance_indicator(client):
    make_component("Builder", status_override=ComponentStatus.UNDER_MAINTENANCE)
    assert get(client, "/api/v2/status.json")["status"] == {
        "indicator": "maintenance",
        "description": "Service Under Maintenance",
    }


def test_incident_object(client, populated):
    major = populated["major"]
    incidents = get(client, "/api/v2/incidents/unresolved.json")["incidents"]
    item = next(i for i in incidents if i["name"] == "Catalyst down")
    assert item["id"] == major.key
    assert item["status"] == "identified"
    assert item["impact"] == "major"
    assert item["resolved_at"] is None
    assert item["monitoring_at"] is None
    assert item["shortlink"] == f"http://testserver/incidents/{major.key}"
    assert item["started_at"].endswith("Z")
    assert [c["name"] for c in item["components"]] == ["Catalyst"]
    assert item["components"][0]["status"] == "partial_outage"
    # Newest first; the internal note is not there; the first row says what happened.
    assert [u["status"] for u in item["incident_updates"]] == ["identified", "investigating"]
    assert item["incident_updates"][0]["body"] == "Found it"
    assert item["incident_updates"][1]["body"] == "We are investigating this issue."
    assert item["incident_updates"][0]["id"] == f"{major.key}-2"
    assert item["incident_updates"][0]["affected_components"] is None


def test_unresolved_lists_open_incidents_most_severe_first(client, populated):
    names = [i["name"] for i in get(client, "/api/v2/incidents/unresolved.json")["incidents"]]
    assert names == ["Catalyst down", "Slow chat"]


def test_incidents_json_has_resolved_ones_with_postmortem_when_an_rca_is_linked(client, populated):
    incidents = get(client, "/api/v2/incidents.json")["incidents"]
    names = [i["name"] for i in incidents]
    assert names == ["Slow chat", "Catalyst down", "Old outage"]
    old = incidents[-1]
    assert old["status"] == "postmortem"
    assert old["resolved_at"] is not None
    assert old["impact"] == "critical"
    assert old["incident_updates"][0]["status"] == "resolved"
    assert old["incident_updates"][0]["body"] == "Fixed"


def test_incidents_json_holds_the_50_most_recent(client):
    now = timezone.now()
    for n in range(53):
        make_incident(f"n{n}", status=Status.RESOLVED, reported_at=now - timedelta(hours=n + 1))
    incidents = get(client, "/api/v2/incidents.json")["incidents"]
    assert len(incidents) == 50
    assert incidents[0]["name"] == "n0"
    assert incidents[-1]["name"] == "n49"


def test_a_status_change_without_message_gets_statuspage_wording_and_silent_edits_are_hidden(client):
    incident = make_incident("Thing")
    services.incident_update(incident_id=incident.pk, author="U0X", source=Source.SLACK, point="U0NEWPOINT")
    services.incident_update(incident_id=incident.pk, author="U0X", source=Source.SLACK, status=Status.MONITORING)
    updates = get(client, "/api/v2/incidents.json")["incidents"][0]["incident_updates"]
    assert [u["body"] for u in updates] == [
        "A fix has been implemented and we are monitoring the results.",
        "We are investigating this issue.",
    ]
    assert get(client, "/api/v2/incidents.json")["incidents"][0]["monitoring_at"] is not None


def test_no_internal_data_in_any_v2_response(client, populated):
    services.person_set_display_name(slack_id="U0SECRET", display_name="Hidden Name")
    shown = populated["minor"]
    services.incident_update(
        incident_id=shown.pk, author="U0SECRET", source=Source.SLACK, point="U0SECRET", contact="U0HIDDEN"
    )
    for path in ENDPOINTS:
        text = client.get(path).content.decode()
        for secret in ("Secret thing", "False alarm", "internal note", "U0SECRET", "U0HIDDEN", "U0POINT", "U0X"):
            assert secret not in text, (path, secret)
