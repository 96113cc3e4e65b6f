"""The back office keeps data safe: stale forms are refused, permissions hold, logins are throttled."""

import pytest
from django.contrib.auth.models import Group
from django.test import RequestFactory
from django.urls import reverse

from crashbot.auth import client_ip
from incidents import services
from incidents.models import Incident, IncidentUpdate, Person, Severity, Source, Status
from incidents.tests.factories import admin_form_data, make_component, make_incident

pytestmark = pytest.mark.django_db

CHANGELIST_URL = reverse("admin:incidents_incident_changelist")
ADD_URL = reverse("admin:incidents_incident_add")
METRICS_URL = reverse("admin:incidents_incident_metrics")
LOGIN_URL = reverse("admin:login")


def change_url(incident):
    return reverse("admin:incidents_incident_change", args=[incident.pk])


def form_as_opened(client, incident) -> dict:
    """What the browser would post back: the change form's fields as rendered (then edited by the test)."""
    response = client.get(change_url(incident))
    assert response.status_code == 200
    seen = response.context["adminform"].form["seen_update_number"].value()
    assert f'<input type="hidden" name="seen_update_number" value="{seen}"' in response.content.decode()
    data = admin_form_data(incident)
    data["seen_update_number"] = str(seen)
    return data


def resubmitted(response) -> dict:
    """The refused form's data, as the browser would post it again."""
    data = response.context["adminform"].form.data
    return {key: data.getlist(key) if len(data.getlist(key)) > 1 else data[key] for key in data}


# --- optimistic concurrency -----------------------------------------------------------------------


def test_a_title_fix_from_a_form_opened_before_slack_resolved_is_refused_not_reopening(staff_client):
    Person.objects.create(slack_id="U0BOB", display_name="Bob")
    incident = make_incident("Marketplace is dwon")
    data = form_as_opened(staff_client, incident)  # the admin opens DCL-n
    services.incident_resolve(incident_id=incident.pk, author="U0BOB", source=Source.SLACK, message="Fixed by restart")

    data["title"] = "Marketplace is down"
    response = staff_client.post(change_url(incident), data)

    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert incident.closed_at is not None
    assert incident.title == "Marketplace is dwon"
    assert incident.updates.count() == 2
    page = response.content.decode()
    assert "was changed by someone else after you opened this page" in page
    assert "Bob (Slack)" in page
    assert "investigating → resolved" in page
    assert "Fixed by restart" in page
    form = response.context["adminform"].form
    assert form["title"].value() == "Marketplace is down"  # the staff member's input is kept
    assert form["status"].value() == Status.RESOLVED  # untouched fields show what is true now

    # Saving the refreshed form applies only the title fix, on top of the resolution.
    response = staff_client.post(change_url(incident), resubmitted(response))
    assert response.status_code == 302, response.content.decode()[:3000]
    incident.refresh_from_db()
    assert incident.title == "Marketplace is down"
    assert incident.status == Status.RESOLVED
    last = incident.updates.order_by("-number").first()
    assert last.changes == {"title": ["Marketplace is dwon", "Marketplace is down"]}


def test_both_changing_the_same_field_is_named_and_the_staff_value_kept(staff_client):
    incident = make_incident("Slow realm", severity=Severity.SEV3)
    data = form_as_opened(staff_client, incident)
    services.incident_update(incident_id=incident.pk, author="staff:carol", source=Source.ADMIN, severity="sev-2")

    data["severity"] = Severity.SEV1
    response = staff_client.post(change_url(incident), data)

    assert response.status_code == 200
    assert "you and they both changed: severity" in response.content.decode()
    assert "carol (Admin)" in response.content.decode()
    assert response.context["adminform"].form["severity"].value() == Severity.SEV1
    incident.refresh_from_db()
    assert incident.severity == Severity.SEV2


def test_rows_that_change_no_field_do_not_block_a_save(staff_client):
    incident = make_incident("Login slow")
    data = form_as_opened(staff_client, incident)
    services.incident_add_note(incident_id=incident.pk, author="U0BOB", source=Source.SLACK, message="Looking")
    services.incident_update(incident_id=incident.pk, author="system", source=Source.SLACK, message="Reminder")

    data["title"] = "Login slow in EU"
    response = staff_client.post(change_url(incident), data)

    assert response.status_code == 302, response.content.decode()[:3000]
    incident.refresh_from_db()
    assert incident.title == "Login slow in EU"


def test_component_changes_meanwhile_are_refused_and_brought_up_to_date(staff_client):
    realm, market = make_component("Realm"), make_component("Marketplace")
    incident = make_incident("Realm down", components=[realm])
    data = form_as_opened(staff_client, incident)
    data["components"] = [str(realm.pk)]
    services.incident_update(
        incident_id=incident.pk, author="staff:carol", source=Source.ADMIN, components=[realm, market]
    )

    data["title"] = "Realm and marketplace down"
    response = staff_client.post(change_url(incident), data)

    assert response.status_code == 200
    assert "components: Realm → Marketplace, Realm" in response.content.decode()
    assert sorted(response.context["adminform"].form.data.getlist("components")) == sorted(
        [str(realm.pk), str(market.pk)]
    )


# --- permissions ------------------------------------------------------------------------------------


@pytest.fixture
def viewer_client(client, django_user_model):
    user = django_user_model.objects.create_user("vera", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Viewers"))
    client.force_login(user)
    return client


@pytest.fixture
def responder_client(client, django_user_model):
    user = django_user_model.objects.create_user("rita", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Incident responders"))
    client.force_login(user)
    return client


def test_the_groups_exist_with_their_permissions():
    responders = set(Group.objects.get(name="Incident responders").permissions.values_list("codename", flat=True))
    viewers = set(Group.objects.get(name="Viewers").permissions.values_list("codename", flat=True))
    assert {"change_incident", "add_incident", "change_component", "view_incident"} <= responders
    assert "delete_incident" not in responders
    assert viewers == {"view_incident", "view_incidentupdate", "view_component", "view_person", "view_scheduledjob"}


@pytest.mark.parametrize("action", ["resolve_selected", "mark_invalid_selected"])
def test_a_viewer_cannot_resolve_or_invalidate_through_the_action_bar(viewer_client, action):
    incident = make_incident("Still open")
    page = viewer_client.get(CHANGELIST_URL).content.decode()
    assert action not in page
    assert "export_csv" in page
    response = viewer_client.post(CHANGELIST_URL, {"action": action, "_selected_action": [incident.pk]})
    assert response.status_code in (200, 302, 403)
    incident.refresh_from_db()
    assert incident.status == Status.INVESTIGATING
    assert incident.updates.count() == 1


def test_a_viewer_cannot_change_or_add_through_the_forms(viewer_client):
    incident = make_incident("Still open")
    response = viewer_client.post(change_url(incident), admin_form_data(incident, title="Hacked"))
    assert response.status_code == 403
    assert viewer_client.post(ADD_URL, admin_form_data(title="New")).status_code == 403
    component = make_component("Realm")
    url = reverse("admin:incidents_component_change", args=[component.pk])
    assert viewer_client.post(url, {"name": "Hacked", "slug": "realm", "position": 0}).status_code == 403
    incident.refresh_from_db()
    assert incident.title == "Still open"
    assert Incident.objects.count() == 1


def test_a_viewer_can_read_export_and_see_metrics(viewer_client):
    incident = make_incident("Readable")
    assert viewer_client.get(change_url(incident)).status_code == 200
    response = viewer_client.post(CHANGELIST_URL, {"action": "export_csv", "_selected_action": [incident.pk]})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert viewer_client.get(METRICS_URL).status_code == 200
    assert (
        viewer_client.get(METRICS_URL, {"since": "2026-01-01", "until": "2026-02-01", "format": "csv"}).status_code
        == 200
    )


def test_staff_without_a_group_see_nothing(client, django_user_model):
    user = django_user_model.objects.create_user("nobody", password="pw", is_staff=True)
    client.force_login(user)
    incident = make_incident("Hidden")
    assert client.get(CHANGELIST_URL).status_code == 403
    assert client.get(METRICS_URL).status_code == 403
    response = client.post(CHANGELIST_URL, {"action": "export_csv", "_selected_action": [incident.pk]})
    assert response.status_code == 403


def test_a_responder_can_resolve_through_the_action_bar(responder_client):
    incident = make_incident("Open")
    response = responder_client.post(CHANGELIST_URL, {"action": "resolve_selected", "_selected_action": [incident.pk]})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert IncidentUpdate.objects.filter(incident=incident, author="staff:rita").exists()


# --- failed-login throttling ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def login(client, username, password, **extra):
    return client.post(LOGIN_URL, {"username": username, "password": password, "next": "/admin/"}, **extra)


def test_failed_logins_are_throttled_per_username(client, staff_user, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for n in range(4):
        response = login(client, "alice", f"wrong{n}", REMOTE_ADDR=f"10.0.0.{n + 1}")
        assert response.status_code == 200  # the form again, with "enter a correct username and password"
    assert login(client, "alice", "wrong5", REMOTE_ADDR="10.0.0.5").status_code == 429  # the fifth failure
    # Then even the right password, from yet another address, is refused.
    response = login(client, "alice", "pw", REMOTE_ADDR="10.0.0.99")
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_failed_logins_are_throttled_per_client_whatever_the_username(client, staff_user, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for n in range(5):
        login(client, f"guess{n}", "wrong", REMOTE_ADDR="203.0.113.7")
    assert login(client, "alice", "pw", REMOTE_ADDR="203.0.113.7").status_code == 429
    # Another client still gets in.
    assert login(client, "alice", "pw", REMOTE_ADDR="203.0.113.8").status_code == 302


def test_a_success_before_the_limit_resets_the_count(client, staff_user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    login(client, "alice", "wrong", REMOTE_ADDR="10.1.1.1")
    login(client, "alice", "wrong", REMOTE_ADDR="10.1.1.1")
    assert login(client, "alice", "pw", REMOTE_ADDR="10.1.1.1").status_code == 302
    client.logout()
    login(client, "alice", "wrong", REMOTE_ADDR="10.1.1.1")
    login(client, "alice", "wrong", REMOTE_ADDR="10.1.1.1")
    assert login(client, "alice", "pw", REMOTE_ADDR="10.1.1.1").status_code == 302


def test_x_forwarded_for_counts_only_behind_a_trusted_proxy(settings):
    rf = RequestFactory()
    settings.TRUSTED_PROXIES = []
    spoofed = rf.post("/", REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_ip(spoofed) == "198.51.100.4"

    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    via_proxy = rf.post("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.4, 10.0.0.9")
    assert client_ip(via_proxy) == "198.51.100.4"  # right-most hop that is not a trusted proxy
    assert client_ip(spoofed) == "198.51.100.4"  # not from the proxy: header ignored
    garbage = rf.post("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-ip")
    assert client_ip(garbage) == "10.0.0.2"


def test_rotating_x_forwarded_for_does_not_dodge_the_throttle(client, staff_user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXIES = []
    for n in range(3):
        login(client, f"user{n}", "wrong", REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}")
    assert login(client, "other", "x", REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR="9.9.9.9").status_code == 429
