from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from incidents import services
from incidents.models import Severity, Source, Status, Visibility
from incidents.tests.factories import make_component, make_incident

pytestmark = pytest.mark.django_db

LEGACY_TYPES = {
    "id": int,
    "update_number": int,
    "modified_at": str,
    "reported_at": str,
    "closed_at": (str, type(None)),
    "status": str,
    "severity": str,
    "title": str,
    "description": str,
    "point": str,
    "contact": str,
    "rca_link": (str, type(None)),
}


def get_list(client, **headers):
    response = client.get("/list", headers=headers)
    assert response.status_code == 200, response.content
    return response.json()


def test_item_urls_use_the_public_base_url_when_set(client, settings):
    """Issue 18: like the v2 API and Slack replies, `/list` links to the configured public origin."""
    incident = make_incident("Behind a proxy")
    settings.PUBLIC_BASE_URL = "https://status.example.com"
    settings.ALLOWED_HOSTS = ["internal-node-3", "testserver"]
    item = get_list(client, host="internal-node-3:8000")["open"][0]
    assert item["url"] == f"https://status.example.com/incidents/{incident.key}"
    settings.PUBLIC_BASE_URL = ""
    assert get_list(client)["open"][0]["url"] == f"http://testserver/incidents/{incident.key}"


def test_empty_list(client):
    assert get_list(client) == {"open": [], "closed": []}


def test_items_carry_every_legacy_key_with_its_type_and_the_extra_keys(client):
    services.person_set_display_name(slack_id="U0POINT", display_name="Ada Point")
    api = make_component("Catalyst")
    make_incident("Open one", point="U0POINT", components=[api], description="*md*")
    make_incident("Closed one", status=Status.RESOLVED, rca_link="https://example.com/rca")
    body = get_list(client)
    item = body["open"][0]
    for key, kind in LEGACY_TYPES.items():
        assert key in item, key
        assert isinstance(item[key], kind), (key, item[key])
    for value in (item["modified_at"], item["reported_at"]):
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert item["status"] == "open"
    assert item["state"] == "investigating"
    assert item["point"] == "Ada Point"
    assert item["contact"] == "Not assigned"
    assert item["rca_link"] is None
    assert item["key"] == f"DCL-{item['id']}"
    assert item["url"] == f"http://testserver/incidents/DCL-{item['id']}"
    assert item["components"] == ["Catalyst"]
    closed = body["closed"][0]
    assert closed["status"] == "closed"
    assert closed["state"] == "resolved"
    assert closed["rca_link"] == "https://example.com/rca"
    datetime.fromisoformat(closed["closed_at"].replace("Z", "+00:00"))


def test_legacy_order(client):
    now = timezone.now()
    sev3_old = make_incident("sev3 old", severity=Severity.SEV3, reported_at=now - timedelta(hours=5))
    sev1 = make_incident("sev1", severity=Severity.SEV1, reported_at=now - timedelta(hours=1))
    sev3_new = make_incident("sev3 new", severity=Severity.SEV3, reported_at=now - timedelta(hours=2))
    closed_old = make_incident("c old", status=Status.RESOLVED, reported_at=now - timedelta(days=3))
    closed_new = make_incident("c new", status=Status.RESOLVED, reported_at=now - timedelta(days=1))
    body = get_list(client)
    assert [i["id"] for i in body["open"]] == [sev1.pk, sev3_old.pk, sev3_new.pk]
    assert [i["id"] for i in body["closed"]] == [closed_new.pk, closed_old.pk]


def test_invalid_and_internal_incidents_and_slack_ids_never_appear(client):
    make_incident("Internal thing", visibility=Visibility.INTERNAL)
    make_incident("False alarm", status=Status.INVALID)
    shown = make_incident("Public", point="U0SECRET", contact="U0HIDDEN")
    services.incident_add_note(incident_id=shown.pk, author="U0X", source=Source.SLACK, message="secret note")
    response = client.get("/list")
    text = response.content.decode()
    assert "Internal thing" not in text
    assert "False alarm" not in text
    assert "secret note" not in text
    assert "U0SECRET" not in text
    assert "U0HIDDEN" not in text
    assert [i["id"] for i in response.json()["open"]] == [shown.pk]


def test_update_number_and_modified_at_follow_updates(client):
    incident = make_incident()
    services.incident_update(incident_id=incident.pk, author="U0X", source=Source.SLACK, message="one")
    services.incident_update(incident_id=incident.pk, author="U0X", source=Source.SLACK, status=Status.MONITORING)
    item = get_list(client)["open"][0]
    assert item["update_number"] == 2
    assert item["state"] == "monitoring"


def test_closed_history_is_bounded(client, settings):
    now = timezone.now()
    for days in (1, 2, 3, 400):
        make_incident(f"closed {days}", status=Status.RESOLVED, reported_at=now - timedelta(days=days))
    assert [i["title"] for i in get_list(client)["closed"]] == ["closed 1", "closed 2", "closed 3"]
    settings.LIST_CLOSED_LIMIT = 2
    assert [i["title"] for i in get_list(client)["closed"]] == ["closed 1", "closed 2"]


def test_cors_preflight_of_the_legacy_status_page(client):
    response = client.options(
        "/list",
        headers={
            "origin": "https://status.decentraland.org",
            "access-control-request-method": "GET",
            "access-control-request-headers": "content-type,crashbot",
        },
    )
    assert response.status_code == 200
    assert response["access-control-allow-origin"] == "*"
    allowed = {h.strip() for h in response["access-control-allow-headers"].split(",")}
    assert {"content-type", "crashbot"} <= allowed
    get = client.get("/list", headers={"origin": "https://status.decentraland.org", "content-type": "application/json"})
    assert get["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    ("configured", "sent", "expected"),
    [("", None, 200), ("", "anything", 200), ("s3cret", "s3cret", 200), ("s3cret", None, 403), ("s3cret", "nope", 403)],
)
def test_api_key(client, settings, configured, sent, expected):
    settings.LIST_API_KEY = configured
    headers = {"crashbot": sent} if sent is not None else {}
    response = client.get("/list", headers=headers)
    assert response.status_code == expected
    if expected == 403:
        assert "crashbot" in response.json()["detail"]


def test_query_count_does_not_grow_with_incidents(client, django_assert_max_num_queries):
    component = make_component()
    services.person_set_display_name(slack_id="U0POINT", display_name="Ada")
    for n in range(3):
        make_incident(f"open {n}", point="U0POINT", components=[component])
        make_incident(f"closed {n}", status=Status.RESOLVED, components=[component])
    with django_assert_max_num_queries(5) as small:
        client.get("/list")
    for n in range(30):
        make_incident(f"more open {n}", point="U0POINT", components=[component])
        make_incident(f"more closed {n}", status=Status.RESOLVED, components=[component])
    with django_assert_max_num_queries(len(small.captured_queries)):
        body = client.get("/list").json()
    assert len(body["open"]) == 33


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
