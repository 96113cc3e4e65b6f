"""`GET /metrics` (SPEC §11): bearer token, Prometheus text, figures that match the database and the traffic."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from incidents import services
from incidents.models import Incident, IncidentUpdate, Severity, Source, Status, Visibility
from incidents.tests.factories import make_incident
from slackbridge import client as slack_client
from slackbridge.client import SlackCallError
from slackbridge.models import SlackMessage
from slackbridge.tests.fakeslack import DEFAULT_CHANNEL, FakeSlack

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-0123456789"


def scrape(client, token: str = TOKEN) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from the real endpoint, parsed as Prometheus parses it."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN


def test_metrics_are_off_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Bearer", 401),
        ("Basic bWV0cmljczp4", 401),
        ("Bearer wrong-token", 403),
        (f"Bearer {TOKEN}x", 403),
        (f"bearer {TOKEN}", 200),
    ],
)
def test_metrics_need_the_bearer_token(client, metrics_on, header, status):
    response = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert response.status_code == status
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
    if status != 200:
        assert b"crashbot_" not in response.content


def test_open_incidents_by_severity_and_tasks_come_from_the_database(client, metrics_on):
    make_incident("Realm down", severity=Severity.SEV1)
    make_incident("Catalyst slow", severity=Severity.SEV1, visibility=Visibility.INTERNAL)
    make_incident("Builder glitch", severity=Severity.SEV4)
    make_incident("Fixed", severity=Severity.SEV2, status=Status.RESOLVED)
    samples = scrape(client)
    open_by_severity = {
        dict(labels)["severity"]: n for (name, labels), n in samples.items() if name == "crashbot_incidents_open"
    }
    assert open_by_severity == {"sev-1": 2, "sev-2": 0, "sev-3": 0, "sev-4": 1, "sev-5": 0}
    assert samples[("crashbot_notifications_pending", ())] == 0
    assert {dict(labels)["state"] for (name, labels) in samples if name == "crashbot_tasks"} == {
        "ready",
        "running",
        "failed",
        "successful",
    }

    from django_tasks_db.models import DBTaskResult

    ready = DBTaskResult.objects.filter(status="READY").count()
    assert samples[("crashbot_tasks", (("state", "ready"),))] == ready
    incident = Incident.objects.get(title="Builder glitch")
    services.incident_resolve(incident_id=incident.pk, author="U0X", source=Source.ADMIN)
    assert scrape(client)[("crashbot_incidents_open", (("severity", "sev-4"),))] == 0, "computed at scrape time"


def test_metrics_show_no_incident_data(client, metrics_on):
    make_incident("Secret internal DNS outage", visibility=Visibility.INTERNAL, point="U0SECRET1")
    body = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).content.decode()
    assert "Secret internal" not in body
    assert "U0SECRET1" not in body


def test_http_requests_are_counted_by_route_name_not_raw_path(client, metrics_on):
    incident = make_incident("Counted")
    before = scrape(client)
    for _ in range(3):
        assert client.get("/list").status_code == 200
    client.get(f"/incidents/{incident.key}")
    client.get("/incidents/DCL-999999")
    client.get("/no-such-page/at/all")
    after = scrape(client)

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert delta("crashbot_http_requests_total", route="incidents:legacy-list", status="200") == 3
    assert delta("crashbot_http_request_duration_seconds_count", route="incidents:legacy-list") == 3
    assert delta("crashbot_http_requests_total", route="incidents:detail", status="200") == 1
    assert delta("crashbot_http_requests_total", route="incidents:detail", status="404") == 1
    assert delta("crashbot_http_requests_total", route="unmatched", status="404") == 1
    assert not any("DCL-" in str(labels) or "no-such-page" in str(labels) for _, labels in after)


def test_slack_api_errors_are_counted_by_method_and_error(client, metrics_on, settings):
    with FakeSlack() as fake:
        settings.SLACK_API_URL = fake.api_url
        settings.SLACK_BOT_TOKEN = "xoxb-test"
        settings.SLACK_RETRY_ATTEMPTS = 1
        before = scrape(client)
        fake.fail("chat.postMessage", error="channel_not_found", times=1)
        with pytest.raises(SlackCallError):
            slack_client.post_message(channel=DEFAULT_CHANNEL, text="hello")
        after = scrape(client)
    key = ("crashbot_slack_api_errors_total", (("error", "channel_not_found"), ("method", "chat.postMessage")))
    assert after[key] - before.get(key, 0) == 1


def test_slack_sync_lag_is_the_age_of_the_oldest_change_slack_does_not_show(client, metrics_on, settings):
    settings.SLACK_BOT_TOKEN = "xoxb-test"
    settings.SLACK_INCIDENTS_CHANNEL = DEFAULT_CHANNEL
    incident = make_incident("Waiting for Slack")
    Incident.objects.filter(pk=incident.pk).update(created_at=timezone.now() - timedelta(seconds=300))
    lag = scrape(client)[("crashbot_slack_sync_lag_seconds", ())]
    assert 300 <= lag < 360, "no headline yet: since the incident was opened"

    SlackMessage.objects.create(incident=incident, kind="headline", channel=DEFAULT_CHANNEL, ts="1.000100")
    services.incident_update(incident_id=incident.pk, author="U0X", source=Source.SLACK, message="Still looking")
    entry = IncidentUpdate.objects.get(incident=incident, message="Still looking")
    IncidentUpdate.objects.filter(pk=entry.pk).update(created_at=timezone.now() - timedelta(seconds=60))
    lag = scrape(client)[("crashbot_slack_sync_lag_seconds", ())]
    assert 60 <= lag < 120, "the thread reply is missing"

    SlackMessage.objects.create(
        incident=incident, kind="reply", entry_number=entry.number, channel=DEFAULT_CHANNEL, ts="1.000200"
    )
    assert scrape(client)[("crashbot_slack_sync_lag_seconds", ())] == 0

    settings.SLACK_BOT_TOKEN = ""
    IncidentUpdate.objects.filter(pk=entry.pk).update(message="changed")  # would be pending again
    assert scrape(client)[("crashbot_slack_sync_lag_seconds", ())] == 0, "no Slack configured: nothing to lag"


def test_public_renders_count_only_the_bodies_a_view_had_to_render(client, metrics_on, settings):
    incident = make_incident("Rendered once per change")
    before = scrape(client)
    for _ in range(3):
        assert client.get("/list").status_code == 200
        assert client.get("/api/v2/summary.json").status_code == 200
    services.incident_update(
        incident_id=incident.pk, author="U0BENCH001", source=Source.SLACK, message="A change: rendered again"
    )
    for _ in range(2):
        assert client.get("/list").status_code == 200
    client.get("/incidents/DCL-999999")
    after = scrape(client)

    def delta(route):
        key = ("crashbot_public_renders_total", (("route", route),))
        return after.get(key, 0) - before.get(key, 0)

    assert delta("incidents:legacy-list") == 2
    assert delta("incidents:v2-summary") == 1
    assert delta("incidents:detail") == 0  # a 404 is not a rendered public body
