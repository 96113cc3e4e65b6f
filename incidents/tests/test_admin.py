from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.models import Incident, IncidentUpdate, Severity, Status
from incidents.tests.factories import admin_form_data, make_component, make_incident

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:incidents_incident_add")
CHANGELIST_URL = reverse("admin:incidents_incident_changelist")


def change_url(incident):
    return reverse("admin:incidents_incident_change", args=[incident.pk])


def test_add_goes_through_the_service_with_a_staff_author(staff_client):
    component = make_component("Realm")
    response = staff_client.post(ADD_URL, admin_form_data(components=[component.pk], update_message="Looking"))
    assert response.status_code == 302, response.content.decode()[:2000]
    incident = Incident.objects.get()
    assert incident.created_by == "staff:alice"
    assert list(incident.components.all()) == [component]
    row = incident.updates.get()
    assert row.author == "staff:alice"
    assert row.source == "admin"
    assert row.message == "Looking"


def test_backfill_from_admin(staff_client):
    reported = (timezone.now() - timedelta(days=10)).replace(microsecond=0)
    closed = reported + timedelta(hours=2)
    response = staff_client.post(
        ADD_URL,
        admin_form_data(
            status=Status.RESOLVED,
            reported_at_0=reported.strftime("%Y-%m-%d"),
            reported_at_1=reported.strftime("%H:%M:%S"),
            closed_at_0=closed.strftime("%Y-%m-%d"),
            closed_at_1=closed.strftime("%H:%M:%S"),
        ),
    )
    assert response.status_code == 302
    incident = Incident.objects.get()
    assert incident.reported_at == reported
    assert incident.closed_at == closed
    assert incident.updates.get().changes["backfill"] == [None, True]


def test_change_writes_one_timeline_row_with_the_changes(staff_client):
    incident = make_incident("Login fails", severity=Severity.SEV2)
    data = admin_form_data(
        title="Login fails for EU users",
        status=Status.MONITORING,
        reported_at_0=incident.reported_at.strftime("%Y-%m-%d"),
        reported_at_1=incident.reported_at.strftime("%H:%M:%S.%f"),
        update_message="Fix deployed",
    )
    response = staff_client.post(change_url(incident), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    row = IncidentUpdate.objects.filter(incident=incident).order_by("-number").first()
    assert row.number == 2
    assert row.author == "staff:alice"
    assert row.changes["title"] == ["Login fails", "Login fails for EU users"]
    assert row.changes["status"] == ["investigating", "monitoring"]
    assert row.message == "Fix deployed"
    incident.refresh_from_db()
    assert incident.monitoring_at is not None


def test_invalid_input_shows_form_errors_and_writes_nothing(staff_client):
    response = staff_client.post(ADD_URL, admin_form_data(title="x" * 121, point="nobody"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "title" in errors
    assert "point" in errors
    assert Incident.objects.count() == 0


def test_resolve_and_mark_invalid_actions(staff_client):
    first, second = make_incident("one"), make_incident("two")
    staff_client.post(CHANGELIST_URL, {"action": "resolve_selected", "_selected_action": [first.pk]})
    staff_client.post(CHANGELIST_URL, {"action": "mark_invalid_selected", "_selected_action": [second.pk]})
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Status.RESOLVED
    assert second.status == Status.INVALID
    assert first.updates.order_by("-number").first().author == "staff:alice"
    assert second.updates.order_by("-number").first().source == "admin"


def test_changelist_search_by_key_and_shows_columns(staff_client):
    incident = make_incident("Needle")
    make_incident("Haystack")
    response = staff_client.get(CHANGELIST_URL, {"q": incident.key})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [incident]
    page = staff_client.get(CHANGELIST_URL).content.decode()
    assert incident.key in page


def test_change_page_shows_the_read_only_timeline(staff_client):
    incident = make_incident(message="First words")
    page = staff_client.get(change_url(incident)).content.decode()
    assert "First words" in page
    assert "timeline" in page.lower()


def test_incidents_cannot_be_deleted(staff_client):
    incident = make_incident()
    response = staff_client.post(reverse("admin:incidents_incident_delete", args=[incident.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Incident.objects.filter(pk=incident.pk).exists()
