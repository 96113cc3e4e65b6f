"""Side channels: nothing public changes when only internal data changes (SPEC §3, §4).

An outsider who polls every public URL must not learn that an internal incident exists or
that someone wrote an internal note: not from a body, a count, a date, an ETag or a gap in
the public numbering.
"""

import json
from datetime import timedelta

import feedparser
import pytest
from django.core.management import call_command
from django.utils import timezone

from incidents import services
from incidents.models import IncidentUpdate, Severity, Source, Status, Visibility
from incidents.tests.factories import PUBLIC_JSON_PATHS, make_component, make_incident

pytestmark = pytest.mark.django_db

PAGES = ["/", "/history", "/history?page=2", "/history.atom", "/history.rss"]


def snapshot(client, paths: list[str]) -> dict[str, tuple[int, bytes, str]]:
    out = {}
    for path in paths:
        response = client.get(path)
        out[path] = (response.status_code, response.content, response.get("ETag", ""))
    return out


@pytest.fixture
def public_incident():
    component = make_component("Catalyst", slug="catalyst")
    incident = make_incident(
        "Catalyst is slow", components=[component], reported_at=timezone.now() - timedelta(hours=1)
    )
    services.incident_update(incident_id=incident.pk, author="U0A", source=Source.SLACK, message="Looking into it")
    return incident


def test_internal_incidents_and_notes_change_no_public_byte_or_etag(client, public_incident):
    paths = [*PUBLIC_JSON_PATHS, *PAGES, f"/incidents/{public_incident.key}"]
    before = snapshot(client, paths)
    component = public_incident.components.get()

    secret = make_incident(
        "Secret DNS flapping", visibility=Visibility.INTERNAL, severity=Severity.SEV1, components=[component]
    )
    services.incident_update(incident_id=secret.pk, author="U0A", source=Source.SLACK, message="secret message")
    services.incident_update(incident_id=secret.pk, author="U0A", source=Source.SLACK, status=Status.IDENTIFIED)
    services.incident_add_note(incident_id=secret.pk, author="U0A", source=Source.SLACK, message="secret note")
    services.incident_resolve(incident_id=secret.pk, author="U0A", source=Source.SLACK)
    services.incident_add_note(
        incident_id=public_incident.pk, author="U0A", source=Source.SLACK, message="internal only"
    )

    after = snapshot(client, paths)
    for path in paths:
        assert after[path] == before[path], path
    assert client.get(f"/incidents/{secret.key}").status_code == 404


def test_list_counts_public_changes_only(client, public_incident):
    item = client.get("/list").json()["open"][0]
    assert item["update_number"] == 1
    services.incident_add_note(incident_id=public_incident.pk, author="U0A", source=Source.SLACK, message="psst")
    again = client.get("/list").json()["open"][0]
    assert again["update_number"] == 1
    assert again["modified_at"] == item["modified_at"]
    services.incident_update(incident_id=public_incident.pk, author="U0A", source=Source.SLACK, message="Fixed a bit")
    latest = client.get("/list").json()["open"][0]
    assert latest["update_number"] == 2
    assert latest["modified_at"] > item["modified_at"]


def test_public_numbering_has_no_gaps_for_internal_rows(client, public_incident):
    services.incident_add_note(incident_id=public_incident.pk, author="U0A", source=Source.SLACK, message="psst")
    services.incident_update(incident_id=public_incident.pk, author="U0A", source=Source.SLACK, message="Third")
    v2 = client.get("/api/v2/incidents.json").json()["incidents"][0]
    assert [u["id"] for u in v2["incident_updates"]] == [f"{public_incident.key}-{n}" for n in (3, 2, 1)]
    html = client.get(f"/incidents/{public_incident.key}").content.decode()
    assert 'id="update-3"' in html
    assert 'id="update-4"' not in html
    atom = client.get("/history.atom").content.decode()
    assert f"{public_incident.key}#update-3" in atom
    assert f"{public_incident.key}#update-4" not in atom


def test_messages_posted_while_internal_stay_internal_and_publishing_starts_a_visible_timeline(client):
    incident = make_incident("DNS resolver flapping", visibility=Visibility.INTERNAL, description="Some lookups fail.")
    services.incident_update(incident_id=incident.pk, author="U0A", source=Source.SLACK, message="staff chatter")
    rows = list(IncidentUpdate.objects.filter(incident=incident).order_by("number"))
    assert [r.visibility for r in rows] == [Visibility.INTERNAL, Visibility.INTERNAL]
    assert [r.public_number for r in rows] == [None, None]

    services.incident_update(incident_id=incident.pk, author="U0A", source=Source.SLACK, visibility=Visibility.PUBLIC)
    html = client.get(f"/incidents/{incident.key}").content.decode()
    assert "staff chatter" not in html
    assert 'id="update-1"' in html
    assert "Some lookups fail." in html.split('id="update-1"')[1]
    item = client.get("/list").json()["open"][0]
    assert item["update_number"] == 0
    v2 = client.get("/api/v2/incidents.json").json()["incidents"][0]
    assert [u["id"] for u in v2["incident_updates"]] == [f"{incident.key}-1"]
    assert "staff chatter" not in client.get("/history.atom").content.decode()


def test_an_internal_note_attached_to_a_public_change_stays_internal(client, public_incident):
    services.incident_update(
        incident_id=public_incident.pk, author="U0A", source=Source.SLACK, status=Status.MONITORING,
        message="blame the intern", message_visibility=Visibility.INTERNAL,
    )  # fmt: skip
    html = client.get(f"/incidents/{public_incident.key}").content.decode()
    assert "blame the intern" not in html
    assert "we are monitoring the results" in html
    assert client.get("/list").json()["open"][0]["update_number"] == 2


def test_import_keeps_the_source_update_number_and_adds_public_changes(client, tmp_path):
    document = {
        "open": [
            {
                "id": 7, "update_number": 5, "modified_at": "2026-10-02T10:00:00Z",
                "reported_at": "2026-10-01T09:00:00Z", "closed_at": None, "status": "open",
                "severity": "sev-2", "title": "Old outage", "description": "From before.",
                "point": "Ada", "contact": "Not assigned", "rca_link": None,
            }
        ],
        "closed": [],
    }  # fmt: skip
    path = tmp_path / "list.json"
    path.write_text(json.dumps(document))
    call_command("import_crashbot_list", str(path))
    item = client.get("/list").json()["open"][0]
    assert item["update_number"] == 5
    assert item["modified_at"] == "2026-10-02T10:00:00Z"
    services.incident_update(incident_id=item["id"], author="U0A", source=Source.SLACK, message="Still on it")
    assert client.get("/list").json()["open"][0]["update_number"] == 6
    html = client.get(f"/incidents/{item['key']}").content.decode()
    assert "Imported from the first version" not in html
    assert "From before." in html


def test_a_backfilled_incident_keeps_its_own_dates_and_words(client):
    reported = timezone.now() - timedelta(days=40)
    incident = make_incident(
        "October outage", status=Status.RESOLVED, reported_at=reported, closed_at=reported + timedelta(hours=2),
        description="Logins failed for two hours.",
    )  # fmt: skip
    make_incident("Today's incident")
    html = client.get(f"/incidents/{incident.key}").content.decode()
    assert "Backfilled." not in html
    assert "Logins failed for two hours." in html
    v2 = next(i for i in client.get("/api/v2/incidents.json").json()["incidents"] if i["id"] == incident.key)
    assert v2["incident_updates"][0]["created_at"].startswith((reported + timedelta(hours=2)).date().isoformat())
    assert v2["created_at"].startswith(reported.date().isoformat())
    feed = feedparser.parse(client.get("/history.atom").content)
    assert "Today's incident" in feed.entries[0].title
    backfilled = next(e for e in feed.entries if "October outage" in e.title)
    assert backfilled.updated.startswith((reported + timedelta(hours=2)).date().isoformat())
