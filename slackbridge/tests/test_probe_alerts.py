"""Probe alerts in the channel: one message per detected change, through the real worker and the fake Slack;
the "Open incident" button opens the create modal prefilled."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.tests.factories import make_component
from monitoring import services as monitoring_services
from monitoring.models import Probe
from monitoring.tests.targets import TargetServer
from slackbridge.blocks import monitoring as blocks
from slackbridge.tests.fakeslack import DEFAULT_CHANNEL
from slackbridge.tests.slack_requests import fixture, send_interaction
from slackbridge.tests.syncutil import run_worker

pytestmark = pytest.mark.django_db


@pytest.fixture
def target(settings):
    settings.PROBES_ALLOW_PRIVATE_URLS = True
    settings.PROBE_AUTO_INCIDENT = False
    with TargetServer() as server:
        yield server


def probe_ticks(n: int, clock: list) -> None:
    for _ in range(n):
        clock[0] += timedelta(seconds=60)
        monitoring_services.run_due_probes(now=clock[0])


def test_one_alert_when_down_and_one_recovery(fake_slack, target, django_capture_on_commit_callbacks):
    component = make_component("Marketplace", slug="marketplace")
    monitoring_services.probe_save(probe=Probe(component=component, url=target.url("/m")))
    clock = [timezone.now()]
    target.set("/m", "fail", 502)
    with django_capture_on_commit_callbacks(execute=True):
        probe_ticks(5, clock)
    run_worker()
    run_worker()  # a second run posts nothing more
    (alert,) = fake_slack.messages(DEFAULT_CHANNEL)
    assert alert["text"] == ":red_circle: Marketplace is down (detected by monitoring)"
    assert "HTTP 502 (expected 200–399)" in alert["blocks"][0]["text"]["text"]
    button = alert["blocks"][1]["elements"][0]
    assert button["action_id"] == blocks.ACTION_PROBE_OPEN_INCIDENT
    assert json.loads(button["value"])["component"] == component.pk

    target.set("/m", "ok")
    with django_capture_on_commit_callbacks(execute=True):
        probe_ticks(6, clock)
    run_worker()
    messages = fake_slack.messages(DEFAULT_CHANNEL)
    assert len(messages) == 2
    assert messages[-1]["text"] == ":white_check_mark: Marketplace recovered (detected by monitoring)"
    assert "It was affected for" in messages[-1]["blocks"][0]["text"]["text"]


def test_slack_down_the_alert_is_retried_and_posted_once(
    fake_slack, target, django_capture_on_commit_callbacks, settings
):
    settings.SLACK_SYNC_BACKOFF = 0
    settings.SLACK_RETRY_ATTEMPTS = 1
    settings.SLACK_RETRY_BACKOFF = 0
    component = make_component("Builder")
    monitoring_services.probe_save(probe=Probe(component=component, url=target.url("/b"), threshold=1))
    target.set("/b", "fail")
    fake_slack.http_error(500, method="chat.postMessage", times=3)
    with django_capture_on_commit_callbacks(execute=True):
        probe_ticks(1, [timezone.now()])
    for _ in range(6):
        run_worker()
    assert len(fake_slack.messages(DEFAULT_CHANNEL)) == 1


def test_open_incident_button_opens_the_prefilled_create_modal(client, fake_slack):
    component = make_component("Marketplace", slug="marketplace")
    make_component("Builder", slug="builder")
    payload = fixture("probe_alert_open_incident_click")
    payload["actions"][0]["value"] = json.dumps(
        {"component": component.pk, "status": "major_outage", "note": "HTTP 503 (expected 200–399)"}
    )
    payload["trigger_id"] = fake_slack.new_trigger()
    response = send_interaction(client, payload)
    assert response.status_code == 200
    (call,) = fake_slack.calls_to("views.open")
    view = call.params["view"]
    by_id = {b.get("block_id"): b for b in view["blocks"]}
    assert view["callback_id"] == "create_incident"
    assert by_id["title"]["element"]["initial_value"] == "Marketplace is down"
    assert by_id["description"]["element"]["initial_value"] == "Detected by monitoring: HTTP 503 (expected 200–399)"
    assert [o["value"] for o in by_id["components"]["element"]["initial_options"]] == [str(component.pk)]
    assert by_id["severity"]["element"]["initial_option"]["value"] == "sev-2"


@pytest.mark.parametrize("value", ["not json", "{}", '{"component": "x"}', ""])
def test_open_incident_button_with_a_bad_value_does_nothing(client, fake_slack, value):
    payload = fixture("probe_alert_open_incident_click")
    payload["actions"][0]["value"] = value
    response = send_interaction(client, payload)
    assert response.status_code == 200
    assert fake_slack.calls_to("views.open") == []


def test_alert_builders_obey_slack_limits():
    component = make_component("C" * 100)
    text, message = blocks.component_alert(component, status="major_outage", note='"é' * 2500)
    assert len(message[0]["text"]["text"]) <= 3000
    assert len(message[1]["elements"][0]["value"]) <= 2000
    assert blocks.read_button_value(message[1]["elements"][0]["value"])[0] == component.pk
