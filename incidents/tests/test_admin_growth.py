"""The admin list stays bounded as history grows (issue 17): a count that stops, date periods by probes."""

from datetime import UTC, datetime

import pytest

from incidents.admin import ChangeListQuerySet, IncidentAdmin
from incidents.models import Incident, Status
from incidents.tests.factories import make_incident

pytestmark = pytest.mark.django_db

CHANGELIST_URL = "/admin/incidents/incident/"


def test_the_count_stops_at_the_limit_and_says_so(staff_client, monkeypatch):
    monkeypatch.setattr("incidents.admin.BoundedCountPaginator.limit", 3)
    monkeypatch.setattr(IncidentAdmin, "list_per_page", 2)
    for n in range(5):
        make_incident(f"Outage {n}")
    response = staff_client.get(CHANGELIST_URL)
    assert response.context["cl"].result_count == 3
    assert len(response.context["cl"].result_list) == 2
    assert "more than 3 incidents" in response.content.decode()


def test_an_action_on_all_matching_past_the_limit_is_refused_and_changes_nothing(admin_client, monkeypatch):
    monkeypatch.setattr("incidents.admin.BoundedCountPaginator.limit", 3)
    incidents = [make_incident(f"Outage {n}") for n in range(5)]
    form = {"action": "resolve_selected", "select_across": "1", "index": "0", "_selected_action": [incidents[0].pk]}
    response = admin_client.post(CHANGELIST_URL, form, follow=True)
    assert "More than 3 incidents match" in response.content.decode()
    assert not Incident.objects.filter(status=Status.RESOLVED).exists()
    # Within the limit the same request applies to every matching row.
    monkeypatch.setattr("incidents.admin.BoundedCountPaginator.limit", 10)
    admin_client.post(CHANGELIST_URL, form)
    assert Incident.objects.filter(status=Status.RESOLVED).count() == 5


def test_a_count_under_the_limit_is_exact(staff_client, monkeypatch):
    monkeypatch.setattr("incidents.admin.BoundedCountPaginator.limit", 3)
    monkeypatch.setattr(IncidentAdmin, "list_per_page", 2)
    for n in range(3):
        make_incident(f"Outage {n}")
    page = staff_client.get(CHANGELIST_URL).content.decode()
    assert "3 incidents" in page
    assert "more than 3 incidents" not in page


@pytest.mark.parametrize("kind", ["year", "month", "day"])
def test_date_hierarchy_periods_are_the_ones_django_finds(kind, settings):
    settings.TIME_ZONE = "Europe/Madrid"
    for when in ("2021-03-31T22:30", "2021-04-02T10:00", "2024-11-05T09:00", "2024-11-05T23:30", "2024-12-31T23:30"):
        reported = datetime.fromisoformat(when).replace(tzinfo=UTC)
        make_incident(f"At {when}", status=Status.RESOLVED, reported_at=reported, closed_at=reported)
    mine = ChangeListQuerySet(Incident).datetimes("reported_at", kind)
    assert list(mine) == list(Incident.objects.datetimes("reported_at", kind))
    assert len(mine) > 1


def test_date_hierarchy_links_only_years_with_incidents(staff_client):
    for year in (2021, 2024):
        reported = datetime(year, 6, 1, tzinfo=UTC)
        make_incident(f"In {year}", status=Status.RESOLVED, reported_at=reported, closed_at=reported)
    page = staff_client.get(CHANGELIST_URL, {"state": "all"}).content.decode()
    assert "reported_at__year=2021" in page
    assert "reported_at__year=2024" in page
    assert "reported_at__year=2022" not in page
