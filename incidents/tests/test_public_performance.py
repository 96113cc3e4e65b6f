"""What keeps the public side fast with a long history (issue 7): cheap stamp, cached bodies, same output."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from incidents import selectors, services
from incidents.models import IncidentUpdate, Source, Status
from incidents.tests.factories import make_component, make_incident

pytestmark = pytest.mark.django_db


def legacy_fixture():
    services.person_set_display_name(slack_id="U0POINT", display_name="Ada <Point>")
    components = [make_component("Catalyst", position=2), make_component("Realm", position=1)]
    make_incident("Open one", point="U0POINT", contact="U0NONAME", components=components)
    closed = make_incident("Closed one", status=Status.RESOLVED, reported_at=timezone.now() - timedelta(days=2))
    services.incident_set_rca_link(
        incident_id=closed.pk, author="U0X", source=Source.SLACK, rca_link="https://example.com/rca"
    )
    return selectors.incident_list_legacy()


@pytest.mark.parametrize("time_zone", ["UTC", "Europe/Madrid"])
def test_list_items_as_the_legacy_clients_read_them(client, settings, time_zone):
    settings.TIME_ZONE = time_zone
    open_incidents, closed = legacy_fixture()
    body = client.get("/list").json()
    first, resolved = body["open"][0], body["closed"][0]
    assert list(first) == [
        *("id", "update_number", "modified_at", "reported_at", "closed_at", "status", "severity", "title"),
        *("description", "point", "contact", "rca_link", "key", "state", "url", "components"),
    ]
    assert (first["point"], first["contact"]) == ("Ada <Point>", "Assigned")
    assert first["components"] == ["Realm", "Catalyst"]
    assert first["url"] == f"http://testserver/incidents/{open_incidents[0].key}"
    assert resolved["rca_link"] == "https://example.com/rca"
    for item, incident in ((first, open_incidents[0]), (resolved, closed[0])):
        shown = datetime.fromisoformat(item["reported_at"].replace("Z", "+00:00"))
        assert shown == incident.reported_at, "the same instant whatever the display time zone"
        assert item["reported_at"].endswith("Z") == (time_zone == "UTC")


def test_second_200_is_served_from_the_cached_body_with_one_query(client, django_assert_num_queries):
    legacy_fixture()
    for path in ("/list", "/", "/api/v2/summary.json", "/history", "/history.atom"):
        first = client.get(path)
        with django_assert_num_queries(1):
            second = client.get(path)
        assert second.status_code == 200, path
        assert second.content == first.content, path
        assert second["Content-Type"] == first["Content-Type"], path
        assert second["ETag"] == first["ETag"], path


def test_a_change_committed_after_a_later_one_still_changes_the_stamp():
    """A timeline row whose id is below the newest one (its transaction committed late) must not go unseen."""
    incident = make_incident("Stamp")
    top = IncidentUpdate.objects.order_by("-id").first()
    IncidentUpdate.objects.bulk_create([IncidentUpdate(
        id=top.id + 10, incident=incident, number=top.number + 1, author="U0X", source=Source.SLACK,
        status=incident.status, public_number=2,
    )])  # fmt: skip
    before = selectors.public_version_stamp()
    IncidentUpdate.objects.bulk_create([IncidentUpdate(
        id=top.id + 5, incident=incident, number=top.number + 2, author="U0X", source=Source.SLACK,
        status=incident.status, public_number=3,
    )])  # fmt: skip
    assert selectors.public_version_stamp() != before


def test_stamp_is_one_query_and_does_not_scan_the_history(django_assert_num_queries):
    make_incident("One")
    with django_assert_num_queries(1) as ctx:
        selectors.public_version_stamp()
    sql = ctx.captured_queries[0]["sql"].upper()
    assert "SUM(" not in sql
    assert 'COUNT(*) FROM "INCIDENTS_INCIDENT")' not in sql
