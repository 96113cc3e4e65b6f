"""Probes in admin: validated (scheme, private addresses, ranges), saved through the services, uptime % shown."""

import socket
from datetime import timedelta

import pytest

from incidents.models import ComponentDailyUptime
from incidents.tests.factories import make_component
from monitoring.models import Probe

pytestmark = pytest.mark.django_db

ADD = "/admin/monitoring/probe/add/"


def form(component, **overrides) -> dict:
    data = {
        "component": component.pk,
        "url": "https://status-target.example/health",
        "method": "GET",
        "expected_status_min": 200,
        "expected_status_max": 399,
        "body_contains": "",
        "timeout_seconds": 5,
        "interval_seconds": 60,
        "threshold": 3,
        "slow_ms": "",
        "enabled": "on",
    }
    return {**data, **overrides}


@pytest.fixture
def resolver(monkeypatch):
    table = {"status-target.example": "93.184.216.34", "intranet.example": "192.168.1.10"}

    def resolve(host, port, *args, **kwargs):
        if host not in table:
            raise OSError("no DNS in tests")
        return [(2, 1, 6, "", (table[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def test_a_valid_probe_is_saved_and_due_at_once(staff_client, resolver):
    component = make_component("Marketplace")
    response = staff_client.post(ADD, form(component))
    assert response.status_code == 302, response.content.decode()[:2000]
    probe = Probe.objects.get()
    assert probe.component == component
    assert probe.next_due_at is not None


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"url": "ftp://status-target.example/"}, "url", ""),
        ({"url": "http://intranet.example/"}, "url", "192.168.1.10, a private, loopback or link-local"),
        ({"url": "http://127.0.0.1:8000/"}, "url", "PROBES_ALLOW_PRIVATE_URLS"),
        ({"url": "https://unknown-host.example/"}, "url", "The host name unknown-host.example could not be resolved."),
        ({"expected_status_min": 500, "expected_status_max": 200}, "expected_status_max", "below the lowest"),
        ({"method": "HEAD", "body_contains": "ok"}, "body_contains", "HEAD request has no body"),
        ({"timeout_seconds": 0}, "timeout_seconds", ""),
        ({"threshold": 0}, "threshold", ""),
    ],
)
def test_bad_probes_are_refused_with_a_reason(staff_client, resolver, overrides, field, message):
    component = make_component()
    response = staff_client.post(ADD, form(component, **overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert Probe.objects.count() == 0


def test_private_urls_are_allowed_with_the_setting(staff_client, settings, resolver):
    settings.PROBES_ALLOW_PRIVATE_URLS = True
    response = staff_client.post(ADD, form(make_component(), url="http://intranet.example/"))
    assert response.status_code == 302


def test_lists_show_uptime(staff_client, resolver):
    from django.utils import timezone

    component = make_component("Marketplace")
    Probe.objects.create(component=component, url="https://status-target.example/")
    today = timezone.now().date()
    for n in range(90):  # every day of the window, today included, 10 % down
        ComponentDailyUptime.objects.create(
            component=component, day=today - timedelta(days=n), observed_seconds=1000, down_seconds=100
        )
    assert "90.00 %" in staff_client.get("/admin/monitoring/probe/").content.decode()
    assert "90.00 %" in staff_client.get("/admin/incidents/component/").content.decode()
    assert staff_client.get("/admin/monitoring/proberesult/").status_code == 200
    assert staff_client.get("/admin/monitoring/alertrecord/").status_code == 200
