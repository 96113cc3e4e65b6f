"""Alert intake through the real HTTP stack, with Alertmanager v4 and Grafana payloads in their documented shapes."""

import json
from pathlib import Path

import pytest

from incidents.models import Incident, IncidentUpdate, Severity, Source, Status, Visibility
from incidents.tests.factories import PUBLIC_JSON_PATHS, make_component
from monitoring.models import AlertRecord

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "s3cret-intake-token"
AM = "/api/alerts/alertmanager"
GRAFANA = "/api/alerts/grafana"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture(autouse=True)
def intake(settings):
    settings.ALERT_INTAKE_TOKEN = TOKEN
    settings.ALERT_AUTO_RESOLVE = False
    settings.ALERT_INCIDENT_VISIBILITY = "internal"
    settings.ALERT_SEVERITY_MAP = "critical:sev-2,warning:sev-3"


@pytest.fixture
def components():
    return make_component("Marketplace", slug="marketplace"), make_component("Catalyst", slug="catalyst")


def post(client, path: str, body: bytes, token: str | None = TOKEN, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return client.post(path, body, content_type="application/json", **headers, **extra)


def test_alertmanager_firing_opens_one_internal_incident(client, components):
    response = post(client, AM, fixture("alertmanager_firing.json"))
    assert response.status_code == 200, response.content
    body = response.json()
    incident = Incident.objects.get()
    assert body["created"] == [incident.key]
    assert incident.title == "Marketplace probe failure"  # annotation `summary`
    assert incident.description.startswith("Instance https://market.example.org has been down")
    assert incident.severity == Severity.SEV2  # severity=critical through ALERT_SEVERITY_MAP
    assert incident.visibility == Visibility.INTERNAL
    assert [c.slug for c in incident.components.all()] == ["marketplace"]
    first = incident.updates.get()
    assert (first.source, first.author) == (Source.ALERT, "alertmanager")
    assert incident.reported_at.isoformat().startswith("2026-11-30T13:08:45.828123")


def test_a_repeat_never_opens_a_second_incident(client, components):
    post(client, AM, fixture("alertmanager_firing.json"))
    for _ in range(3):
        response = post(client, AM, fixture("alertmanager_firing.json"))
        assert response.json()["repeated"] == 1
        assert response.json()["created"] == []
    assert Incident.objects.count() == 1
    assert IncidentUpdate.objects.count() == 1  # a repeat adds nothing to the timeline
    assert AlertRecord.objects.get().repeats == 3


def test_resolved_adds_an_internal_note_and_keeps_the_incident_open(client, components):
    post(client, AM, fixture("alertmanager_firing.json"))
    response = post(client, AM, fixture("alertmanager_resolved.json"))
    incident = Incident.objects.get()
    assert response.json()["resolved"] == [incident.key]
    assert incident.status == Status.INVESTIGATING
    note = incident.updates.order_by("-number").first()
    assert note.visibility == Visibility.INTERNAL
    assert note.source == Source.ALERT
    assert note.message == "Alert ProbeFailure resolved at 2026-11-30 14:02 UTC (alertmanager)."
    # Resolved again: nothing new.
    post(client, AM, fixture("alertmanager_resolved.json"))
    assert incident.updates.count() == 2


def test_resolved_resolves_with_auto_resolve_and_firing_again_reopens(client, settings, components):
    settings.ALERT_AUTO_RESOLVE = True
    post(client, AM, fixture("alertmanager_firing.json"))
    post(client, AM, fixture("alertmanager_resolved.json"))
    incident = Incident.objects.get()
    assert incident.status == Status.RESOLVED
    response = post(client, AM, fixture("alertmanager_firing.json"))
    assert response.json()["refired"] == [incident.key]
    incident.refresh_from_db()
    assert incident.status == Status.INVESTIGATING
    assert Incident.objects.count() == 1


def test_grafana_payload_opens_one_incident_per_alert_and_dedupes(client, components):
    response = post(client, GRAFANA, fixture("grafana_firing.json"))
    assert response.status_code == 200, response.content
    assert len(response.json()["created"]) == 2
    memory = Incident.objects.get(title="Catalyst memory above 90% in us-1")
    cpu = Incident.objects.get(title="High CPU usage")  # no summary: the alertname label
    assert memory.severity == Severity.SEV3  # warning
    assert cpu.severity == Severity.SEV3  # no severity label: sev-3
    assert [c.slug for c in memory.components.all()] == ["catalyst"]  # from label `service`
    assert list(cpu.components.all()) == []
    again = post(client, GRAFANA, fixture("grafana_firing.json")).json()
    assert (again["created"], again["repeated"]) == ([], 2)
    resolved = post(client, GRAFANA, fixture("grafana_resolved.json")).json()
    assert resolved["resolved"] == [memory.key]
    assert Incident.objects.count() == 2


def test_the_same_fingerprint_from_both_sources_is_two_alerts(client, components):
    post(client, AM, fixture("alertmanager_firing.json"))
    body = json.loads(fixture("alertmanager_firing.json"))
    response = post(client, GRAFANA, json.dumps(body).encode())
    assert len(response.json()["created"]) == 1
    assert Incident.objects.count() == 2


def test_unknown_component_creates_the_incident_without_one_and_says_so(client, components):
    response = post(client, AM, fixture("alertmanager_unknown_component.json"))
    assert response.status_code == 200
    body = response.json()
    incident = Incident.objects.get()
    assert list(incident.components.all()) == []
    assert incident.title == "HighLatency"
    assert incident.severity == Severity.SEV3
    assert body["warnings"] == ["77aa00bb11cc22dd: no component with slug “no-such-service”; created without one"]


def test_public_visibility_setting_makes_alert_incidents_public(client, settings, components):
    settings.ALERT_INCIDENT_VISIBILITY = "public"
    post(client, AM, fixture("alertmanager_firing.json"))
    assert Incident.objects.get().visibility == Visibility.PUBLIC


def test_internal_alert_incidents_never_reach_the_public_side(client, components):
    before = {path: client.get(path).content for path in [*PUBLIC_JSON_PATHS, "/", "/history", "/history.atom"]}
    post(client, AM, fixture("alertmanager_firing.json"))
    post(client, AM, fixture("alertmanager_resolved.json"))
    for path, content in before.items():
        after = client.get(path).content
        assert b"Marketplace probe failure" not in after
        assert b"ProbeFailure" not in after
        if path in PUBLIC_JSON_PATHS:  # pages carry their own ETag (for their refresh), JSON must not change at all
            assert after == content, path


@pytest.mark.parametrize(
    ("token", "status"),
    [(None, 401), ("wrong", 401), ("", 401), (TOKEN + "x", 401), (TOKEN[:-1], 401)],
)
def test_bad_token_is_refused_and_stores_nothing(client, components, token, status):
    response = post(client, AM, fixture("alertmanager_firing.json"), token=token)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "Missing or wrong bearer token."}
    assert Incident.objects.count() == 0


def test_basic_auth_scheme_is_refused(client, components):
    response = client.post(
        AM, fixture("alertmanager_firing.json"), content_type="application/json", HTTP_AUTHORIZATION=f"Basic {TOKEN}"
    )
    assert response.status_code == 401


def test_intake_is_404_when_no_token_is_configured(client, settings):
    settings.ALERT_INTAKE_TOKEN = ""
    response = post(client, AM, fixture("alertmanager_firing.json"))
    assert response.status_code == 404
    assert "ALERT_INTAKE_TOKEN" in response.json()["error"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("malformed_truncated.json", "The body is not JSON"),
        ("alertmanager_bad_status.json", 'alerts[0].status must be "firing" or "resolved".'),
    ],
)
def test_malformed_bodies_get_a_json_400(client, components, name, message):
    response = post(client, AM, fixture(name))
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert Incident.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[]", "The body must be a JSON object."),
        (b'{"alerts": {}}', "`alerts` must be a list."),
        (b'{"version": "3", "alerts": []}', "Unsupported Alertmanager webhook version"),
        (b'{"alerts": [{"status": "firing", "labels": {"a": {"b": 1}}}]}', "alerts[0].labels.a must be a string."),
        (b'{"alerts": [{"status": "firing", "fingerprint": 12}]}', "alerts[0].fingerprint must be a string."),
        (b'{"alerts": ["x"]}', "alerts[0] must be an object."),
        (b"\xff\xfe", "The body is not JSON"),
    ],
)
def test_shape_errors_name_the_place(client, body, message):
    response = post(client, AM, body)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_body_size_limit(client, settings, components):
    settings.ALERT_MAX_BODY_BYTES = 1000
    response = post(client, AM, fixture("alertmanager_firing.json"))
    assert response.status_code == 413
    assert Incident.objects.count() == 0


def test_get_is_refused_as_json(client):
    response = client.get(AM, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 405
    assert response.json() == {"error": "Use POST."}


def test_control_characters_and_long_titles_are_made_safe(client):
    body = {
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "X"},
                "annotations": {"summary": "Disk\x00 full\x07 on\n" + "a" * 300, "description": "bell\x07"},
                "fingerprint": "ctl",
            }
        ]
    }
    response = post(client, AM, json.dumps(body).encode())
    assert response.status_code == 200, response.content
    incident = Incident.objects.get()
    assert incident.title.startswith("Disk full on aaa")
    assert len(incident.title) == 120
    assert incident.description == "bell"
