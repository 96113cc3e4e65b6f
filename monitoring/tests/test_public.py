"""What the public sees of monitoring: the detected status (page, v2), uptime %, and nothing private."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import ComponentStatus, Severity
from incidents.tests.factories import PUBLIC_JSON_PATHS, make_component, make_incident
from monitoring import services
from monitoring.models import Probe
from monitoring.tests.targets import TargetServer

pytestmark = pytest.mark.django_db

SECRET_PATH = "/internal-health-7f3a"


@pytest.fixture
def down_component(settings):
    """Marketplace, whose probe has failed three times in a row against a real local target."""
    settings.PROBES_ALLOW_PRIVATE_URLS = True
    component = make_component("Marketplace", slug="marketplace", position=1)
    make_component("Builder", slug="builder", position=2)
    with TargetServer() as target:
        target.set(SECRET_PATH, "fail", 503)
        services.probe_save(probe=Probe(component=component, url=target.url(SECRET_PATH)))
        now = timezone.now()
        for n in range(3):
            services.run_due_probes(now=now + timedelta(seconds=60 * (n + 1)))
    return component


def v2_components(client) -> dict:
    return {c["id"]: c for c in client.get("/api/v2/components.json").json()["components"]}


def test_detected_down_shows_as_major_outage_in_v2(client, down_component):
    components = v2_components(client)
    assert components["marketplace"]["status"] == ComponentStatus.MAJOR_OUTAGE
    assert components["marketplace"]["detected_by_monitoring"] is True
    assert components["builder"]["status"] == ComponentStatus.OPERATIONAL
    assert components["builder"]["detected_by_monitoring"] is False
    assert client.get("/api/v2/status.json").json()["status"]["indicator"] == "critical"
    summary = client.get("/api/v2/summary.json").json()
    assert {c["id"]: c["status"] for c in summary["components"]}["marketplace"] == "major_outage"


def test_detected_down_shows_on_the_page_with_uptime(client, down_component):
    services.rollup_and_prune()
    html = client.get("/").content.decode()
    row = html.split('data-component="marketplace"')[1].split("</li>")[0]
    assert "Major outage" in row
    assert "detected by monitoring" in row
    assert "% uptime" in row
    builder = html.split('data-component="builder"')[1].split("</li>")[0]
    assert "100% uptime (90 days)" in builder
    assert "detected by monitoring" not in builder


def test_an_override_wins_over_what_monitoring_detected(client, down_component):
    down_component.status_override = ComponentStatus.UNDER_MAINTENANCE
    down_component.save()
    marketplace = v2_components(client)["marketplace"]
    assert marketplace["status"] == ComponentStatus.UNDER_MAINTENANCE
    assert marketplace["detected_by_monitoring"] is False


def test_a_worse_incident_and_a_probe_combine_to_the_worst(client, settings):
    component = make_component("Catalyst", slug="catalyst")
    make_incident("Catalyst slow", severity=Severity.SEV2, components=[component])  # partial outage
    assert v2_components(client)["catalyst"]["status"] == ComponentStatus.PARTIAL_OUTAGE
    from incidents import services as incident_services

    incident_services.component_set_detected(component_id=component.pk, status=ComponentStatus.DEGRADED_PERFORMANCE)
    catalyst = v2_components(client)["catalyst"]
    assert catalyst["status"] == ComponentStatus.PARTIAL_OUTAGE  # the incident is worse
    assert catalyst["detected_by_monitoring"] is False
    incident_services.component_set_detected(component_id=component.pk, status=ComponentStatus.MAJOR_OUTAGE)
    assert v2_components(client)["catalyst"]["status"] == ComponentStatus.MAJOR_OUTAGE


def test_probe_url_and_error_never_reach_the_public_side(client, down_component):
    for path in [*PUBLIC_JSON_PATHS, "/", "/history", "/history.atom", "/history.rss"]:
        body = client.get(path).content
        assert SECRET_PATH.encode() not in body, path
        assert b"127.0.0.1" not in body, path
        assert b"HTTP 503" not in body, path


def test_the_etag_changes_when_monitoring_detects_a_change(client, settings):
    settings.PROBES_ALLOW_PRIVATE_URLS = True
    component = make_component("Realm", slug="realm")
    before = client.get("/api/v2/components.json")["ETag"]
    from incidents import services as incident_services

    incident_services.component_set_detected(component_id=component.pk, status=ComponentStatus.MAJOR_OUTAGE)
    after = client.get("/api/v2/components.json")
    assert after["ETag"] != before
    assert after.json()["components"][0]["status"] == "major_outage"


def test_an_unknown_detected_status_is_refused():
    from django.core.exceptions import ValidationError

    from incidents import services as incident_services

    component = make_component()
    with pytest.raises(ValidationError):
        incident_services.component_set_detected(component_id=component.pk, status="partial_outage")
