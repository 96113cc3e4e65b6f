"""Probes against real local HTTP targets: thresholds, hysteresis both ways, recovery, the pool, SSRF."""

import socket
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from crashbot.urlsafety import UnsafeURL
from incidents.models import Component, ComponentStatus
from incidents.signals import component_changed
from incidents.tests.factories import make_component
from monitoring import probing, services
from monitoring.models import Probe, ProbeResult, ProbeState
from monitoring.tests.targets import TargetServer, closed_port_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def private_ok(settings):
    settings.PROBES_ALLOW_PRIVATE_URLS = True  # the targets listen on 127.0.0.1
    settings.PROBE_AUTO_INCIDENT = False


@pytest.fixture
def target(private_ok):
    with TargetServer() as server:
        yield server


@pytest.fixture
def announcements():
    seen = []

    def receiver(sender, **kwargs):
        seen.append((kwargs["component_id"], kwargs["old_status"], kwargs["new_status"], kwargs["note"]))

    component_changed.connect(receiver, dispatch_uid="test-announcements")
    yield seen
    component_changed.disconnect(dispatch_uid="test-announcements")


def make_probe(component: Component, url: str, **fields) -> Probe:
    return services.probe_save(probe=Probe(component=component, url=url, **fields))


class Clock:
    """Runs the due probes as the worker would, one interval apart."""

    def __init__(self):
        self.now = timezone.now()

    def tick(self, seconds: int = 60) -> dict:
        self.now += timedelta(seconds=seconds)
        return services.run_due_probes(now=self.now)


def detected(component: Component) -> str:
    component.refresh_from_db()
    return component.detected_status


def test_three_failures_in_a_row_mark_the_component_down_once(
    target, announcements, django_capture_on_commit_callbacks
):
    component = make_component("Marketplace", slug="marketplace")
    make_probe(component, target.url("/market"))
    clock = Clock()
    assert clock.tick()["ran"] == 1
    target.set("/market", "fail", 503)
    with django_capture_on_commit_callbacks(execute=True):
        clock.tick()
        clock.tick()
        assert detected(component) == ""  # two failures: not yet
        clock.tick()
    assert detected(component) == ComponentStatus.MAJOR_OUTAGE
    assert announcements == [(component.pk, "", "major_outage", "HTTP 503 (expected 200–399)")]
    with django_capture_on_commit_callbacks(execute=True):
        clock.tick()
        clock.tick()
    assert len(announcements) == 1  # still down: nothing new to say
    results = list(ProbeResult.objects.filter(component=component).order_by("checked_at"))
    assert [r.ok for r in results] == [True, False, False, False, False, False]
    assert [r.status_code for r in results] == [200, 503, 503, 503, 503, 503]
    assert [r.state for r in results] == ["up", "up", "up", "down", "down", "down"]
    assert all(r.latency_ms >= 0 for r in results)


def test_hysteresis_both_ways_and_recovery_announced_once(target, announcements, django_capture_on_commit_callbacks):
    component = make_component("Builder", slug="builder")
    make_probe(component, target.url("/b"))
    clock = Clock()
    with django_capture_on_commit_callbacks(execute=True):
        # Flapping while up never trips it: fail, fail, ok, fail, fail, ok …
        for mode in ["fail", "fail", "ok", "fail", "fail", "ok", "fail", "fail"]:
            target.set("/b", mode)
            clock.tick()
        assert detected(component) == ""
        target.set("/b", "fail")
        clock.tick()  # third failure in a row
        assert detected(component) == ComponentStatus.MAJOR_OUTAGE
        # Flapping while down never recovers it.
        for mode in ["ok", "ok", "fail", "ok", "ok", "fail"]:
            target.set("/b", mode)
            clock.tick()
        assert detected(component) == ComponentStatus.MAJOR_OUTAGE
        target.set("/b", "ok")
        clock.tick()
        clock.tick()
        assert detected(component) == ComponentStatus.MAJOR_OUTAGE
        clock.tick()
        assert detected(component) == ""
        clock.tick()
    assert [(old, new) for _, old, new, _ in announcements] == [("", "major_outage"), ("major_outage", "")]


def test_a_target_that_is_down_or_hangs_counts_as_failing(private_ok, target, announcements):
    down = make_component("Down")
    hanging = make_component("Hanging")
    make_probe(down, closed_port_url("/x"), threshold=1)
    make_probe(hanging, target.url("/hang"), threshold=1, timeout_seconds=0.5)
    target.set("/hang", "hang")
    Clock().tick()
    by_component = {r.component_id: r for r in ProbeResult.objects.all()}
    assert by_component[down.pk].error.startswith("Connection failed")
    assert by_component[hanging.pk].error == "No answer within 0.5 s"
    assert by_component[hanging.pk].status_code is None
    assert detected(down) == detected(hanging) == ComponentStatus.MAJOR_OUTAGE


def test_slow_answers_mean_degraded_performance(target):
    component = make_component("Catalyst")
    make_probe(component, target.url("/slow"), slow_ms=100, threshold=2)
    target.set("/slow", "slow", 0.25)
    clock = Clock()
    clock.tick()
    assert detected(component) == ""
    clock.tick()
    assert detected(component) == ComponentStatus.DEGRADED_PERFORMANCE
    assert Probe.objects.get(component=component).state == ProbeState.DEGRADED
    assert ProbeResult.objects.filter(component=component).first().latency_ms >= 250


def test_body_substring_and_expected_status(target):
    wants_text = make_component("Text")
    wants_404 = make_component("Gone")
    make_probe(wants_text, target.url("/page"), body_contains="all good", threshold=1)
    make_probe(wants_404, target.url("/gone"), expected_status_min=404, expected_status_max=404, threshold=1)
    target.set("/gone", "fail", 404)
    clock = Clock()
    clock.tick()
    assert detected(wants_text) == detected(wants_404) == ""
    target.set("/page", "body", "Under maintenance")
    clock.tick()
    assert detected(wants_text) == ComponentStatus.MAJOR_OUTAGE
    assert Probe.objects.get(component=wants_text).last_error == "The body does not contain “all good”"


def test_probes_run_only_when_due(target):
    component = make_component()
    make_probe(component, target.url("/due"), interval_seconds=60)
    now = timezone.now() + timedelta(seconds=1)
    assert services.run_due_probes(now=now)["ran"] == 1
    assert services.run_due_probes(now=now + timedelta(seconds=30))["ran"] == 0
    assert services.run_due_probes(now=now + timedelta(seconds=60))["ran"] == 1
    assert target.hits["/due"] == 2


@pytest.mark.reliability
def test_pool_of_200_probes_with_hanging_targets_finishes_within_the_timeout(settings, target):
    """200 components, 20 of them hanging: one round fits the 60 s interval and costs far less than
    the hanging targets would in series; every result is stored."""
    settings.PROBE_CONCURRENCY = 32
    timeout = 2.0
    components = [make_component(slug=f"svc-{n}") for n in range(200)]
    probes = []
    for n, component in enumerate(components):
        path = f"/svc/{n}"
        if n % 10 == 0:
            target.set(path, "hang")
        probes.append(Probe(component=component, url=target.url(path), timeout_seconds=timeout, threshold=1))
    Probe.objects.bulk_create(probes)
    started = time.monotonic()
    outcome = services.run_due_probes(now=timezone.now() + timedelta(seconds=1))
    elapsed = time.monotonic() - started
    assert outcome["ran"] == 200
    # Counted, not timed: the 20 hanging targets all held a connection, and the healthy probes were
    # answered while they hung instead of queueing behind them.
    assert target.hanging == 20
    assert target.served_while_hanging >= 170, target.served_while_hanging
    # In series the hanging targets alone would cost 20 × 2 s = 40 s (a quiet run takes ~3 s).
    assert elapsed < 20 * timeout, elapsed
    results = ProbeResult.objects.all()
    assert results.count() == 200
    assert results.filter(ok=False).count() == 20
    assert set(results.filter(ok=False).values_list("error", flat=True)) == {"No answer within 2 s"}
    assert Component.objects.filter(detected_status=ComponentStatus.MAJOR_OUTAGE).count() == 20
    # No healthy probe waited behind a hanging one: each answered well within the timeout.
    assert max(results.filter(ok=True).values_list("latency_ms", flat=True)) < timeout * 1000


def test_disabling_or_deleting_a_probe_clears_what_it_detected(target):
    component = make_component()
    probe = make_probe(component, target.url("/x"), threshold=1)
    target.set("/x", "fail")
    Clock().tick()
    assert detected(component) == ComponentStatus.MAJOR_OUTAGE
    probe.enabled = False
    services.probe_save(probe=probe)
    assert detected(component) == ""
    probe.enabled = True
    services.probe_save(probe=probe)
    Clock().tick()
    assert detected(component) == ComponentStatus.MAJOR_OUTAGE
    services.probe_delete(probe_id=probe.pk)
    assert detected(component) == ""


def test_auto_incident_opens_an_internal_sev2_and_resolves_it_on_recovery(settings, target):
    from incidents.models import Incident, Severity, Source, Status, Visibility

    settings.PROBE_AUTO_INCIDENT = True
    component = make_component("Realm")
    make_probe(component, target.url("/r"), threshold=2)
    clock = Clock()
    target.set("/r", "fail")
    for _ in range(4):
        clock.tick()
    incident = Incident.objects.get()
    assert (incident.severity, incident.visibility, incident.status) == (
        Severity.SEV2,
        Visibility.INTERNAL,
        Status.INVESTIGATING,
    )
    assert list(incident.components.all()) == [component]
    assert incident.updates.get(number=1).source == Source.SYSTEM
    target.set("/r", "ok")
    clock.tick()
    clock.tick()
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert Incident.objects.count() == 1


# -- the address rule (SSRF): refused before any socket opens -------------------------------------------------
@pytest.fixture
def no_sockets(monkeypatch):
    """Fail the test if anything tries to connect; the resolver answers from a table (no DNS)."""
    import urllib3.util.connection

    connects = []

    def refuse(*args, **kwargs):
        connects.append(args)
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", refuse)
    table = {
        "internal.example": "10.1.2.3",
        "metadata.example": "169.254.169.254",
        "loopback.example": "127.0.0.1",
        "v6.example": "fd00::1",
    }

    def resolver(host, port, *args, **kwargs):
        if host not in table:
            raise OSError("no DNS in tests")
        family = 10 if ":" in table[host] else 2
        return [(family, 1, 6, "", (table[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    return connects


@pytest.mark.parametrize(
    "url",
    [
        "http://internal.example/health",
        "https://metadata.example/latest/meta-data/",
        "http://loopback.example:8000/",
        "http://v6.example/",
        "http://127.0.0.1:9/",
        "http://[::1]/",
        "http://169.254.169.254/",
    ],
)
def test_private_addresses_are_refused_before_any_socket(settings, no_sockets, url):
    settings.PROBES_ALLOW_PRIVATE_URLS = False
    outcome = probing.run_check(probing.Check(probe_id=1, url=url), allow_private=False)
    assert not outcome.ok
    assert "PROBES_ALLOW_PRIVATE_URLS" in outcome.error
    with pytest.raises(Exception, match="private"):
        services.probe_validate(Probe(component=make_component(), url=url))
    assert no_sockets == []


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "javascript:alert(1)", "http:///x"])
def test_only_http_and_https_urls(no_sockets, url):
    with pytest.raises(UnsafeURL):
        probing.resolve(url, allow_private=True)
    assert no_sockets == []


def test_metrics_show_probe_state(client, settings, target):
    from crashbot.tests.test_metrics import TOKEN, scrape

    settings.METRICS_TOKEN = TOKEN
    up, down = make_component(slug="up-one"), make_component(slug="down-one")
    make_probe(up, target.url("/up"), threshold=1)
    make_probe(down, target.url("/down"), threshold=1)
    target.set("/down", "fail")
    Clock().tick()
    samples = scrape(client)
    assert samples[("crashbot_component_probe_up", (("component", "up-one"),))] == 1
    assert samples[("crashbot_component_probe_up", (("component", "down-one"),))] == 0
