"""The HTTP edge: refused requests touch nothing, and every acknowledgement is fast."""

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents.models import Incident, IncidentUpdate
from incidents.tests.factories import make_incident
from slackbridge.signature import sign
from slackbridge.tests.conftest import SIGNING_SECRET
from slackbridge.tests.slack_requests import (
    COMMANDS_URL,
    INTERACTIONS_URL,
    command_body,
    fixture,
    for_incident,
    interaction_body,
    send_command,
    send_interaction,
    set_state,
    signed_post,
)


@pytest.fixture
def secret(settings):
    settings.SLACK_SIGNING_SECRET = SIGNING_SECRET


def refused(response):
    assert response.status_code == 401
    assert response.content == b""
    return True


@pytest.mark.django_db
@pytest.mark.parametrize("path", [COMMANDS_URL, INTERACTIONS_URL])
def test_bad_signatures_get_401_and_touch_no_table(client, secret, path, django_assert_num_queries):
    body = command_body() if path == COMMANDS_URL else interaction_body(fixture("create_incident_modal_submission"))
    now = int(time.time())
    good = sign(secret=SIGNING_SECRET, timestamp=now, body=body)
    with django_assert_num_queries(0):
        assert refused(client.post(path, body, content_type="application/x-www-form-urlencoded"))  # unsigned
        assert refused(signed_post(client, path, body, secret="wrong-secret"))
        assert refused(signed_post(client, path, body, timestamp=now - 301))  # stale
        assert refused(signed_post(client, path, body, timestamp=now + 305))  # future (margin for a slow machine)
        assert refused(signed_post(client, path, body + b"&text=sev-1+evil", timestamp=now, signature=good))
        assert refused(signed_post(client, path, body, timestamp=now, signature=good.upper()))
    assert not Incident.objects.exists()
    assert not IncidentUpdate.objects.exists()


def test_without_signing_secret_everything_is_refused(client, settings):
    settings.SLACK_SIGNING_SECRET = ""
    body = command_body()
    assert refused(signed_post(client, COMMANDS_URL, body, secret=""))


def test_ssl_check_gets_an_empty_200(client, secret):
    response = signed_post(client, COMMANDS_URL, command_body("ssl_check"))
    assert response.status_code == 200
    assert response.content == b""


def test_post_only(client, secret):
    assert client.get(COMMANDS_URL).status_code == 405
    assert client.get(INTERACTIONS_URL).status_code == 405


def test_signed_garbage_is_a_400_not_a_500(client, secret):
    assert signed_post(client, INTERACTIONS_URL, b"payload=%7Bnot-json").status_code == 400
    assert signed_post(client, INTERACTIONS_URL, b"payload=%5B%5D").status_code == 400
    assert signed_post(client, COMMANDS_URL, b"text=hello").status_code == 400
    assert signed_post(client, COMMANDS_URL, b"\xff\xfe").status_code == 400


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.binary(max_size=200),
    age=st.integers(min_value=-1000, max_value=1000),
    signer=st.sampled_from([SIGNING_SECRET, "not-the-secret", None]),
)
def test_http_accepts_only_correctly_signed_fresh_requests(client, secret, body, age, signer):
    """No database here: pytest-django fails the test if a refused request reaches a table."""
    timestamp = int(time.time()) - age
    signature = sign(secret=signer, timestamp=timestamp, body=body) if signer else "v0=" + "0" * 64
    response = signed_post(client, COMMANDS_URL, body, timestamp=timestamp, signature=signature)
    accepted = signer == SIGNING_SECRET and abs(age) <= 295  # margin for the clock moving during the test
    if accepted:
        assert response.status_code in (200, 400)  # verified; random bytes are then not a command
    elif signer != SIGNING_SECRET or abs(age) > 305:
        assert refused(response)


# -- 3-second acknowledgement with a slow Slack ------------------------------------------------------------
ACK_BUDGET = 1.5  # seconds; Slack's limit is 3


@pytest.fixture
def slow_slack(fake_slack):
    """Every Web API call but views.open/views.update takes 2 s."""
    fake_slack.delay(2.0, except_methods=("views.open", "views.update"))
    return fake_slack


def timed(send):
    started = time.monotonic()
    response = send()
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < ACK_BUDGET, f"acknowledged after {elapsed:.2f}s"
    return response


@pytest.mark.django_db(transaction=True)  # on_commit hooks (and so the incident_changed receivers) really run
def test_every_command_and_interaction_acknowledges_fast_with_a_slow_slack(client, slow_slack):
    incident = make_incident("Slow Slack")
    key = incident.key
    commands = [
        {"text": "sev-2 Marketplace down"},
        {"name": "create_incident_no_text", "trigger_id": slow_slack.new_trigger()},
        {"name": "update_incident_no_text", "trigger_id": slow_slack.new_trigger()},
        {"name": "update_incident_one_line", "text": key, "trigger_id": slow_slack.new_trigger()},
        {"name": "update_incident_one_line", "text": f"{key} identified Found it"},
        {"name": "update_incident_one_line", "text": f"{key} sev-1 Worse"},
        {"name": "update_incident_one_line", "text": f"{key} rca https://x.example/rca"},
        {"name": "update_incident_one_line", "text": f"{key} ack"},
        {"name": "update_incident_one_line", "text": f"{key} note internal"},
        {"name": "update_incident_one_line", "text": f"{key} a public message"},
        {"name": "update_incident_one_line", "text": f"{key} resolved Fixed"},
        {"name": "incidents_list_all"},
        {"name": "create_incident_help"},
    ]
    for fields in commands:
        name = fields.pop("name", "create_incident_one_line")
        timed(lambda name=name, fields=fields: send_command(client, name, **fields))

    payloads = []
    for name in ("headline_acknowledge_click", "headline_update_click", "headline_resolve_click"):
        payload = for_incident(fixture(name), incident.pk)
        payload["trigger_id"] = slow_slack.new_trigger()
        payloads.append(payload)
    payloads.append(set_state(fixture("create_incident_modal_submission"), "components", selected_options=[]))
    payloads.append(for_incident(fixture("update_incident_modal_submission"), incident.pk))
    payloads.append(for_incident(fixture("resolve_incident_modal_submission"), incident.pk))
    for payload in payloads:
        timed(lambda payload=payload: send_interaction(client, payload))

    assert Incident.objects.count() == 3
    methods = {call.method for call in slow_slack.calls}
    assert methods <= {"views.open", "views.update"}, methods
    assert len(slow_slack.calls_to("views.open")) == 5


def test_unsigned_ssl_check_gets_an_empty_200_and_touches_nothing(client, secret):
    # No database fixture: any table access would raise.
    response = client.post(COMMANDS_URL, command_body("ssl_check"), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert response.content == b""


def test_deeply_nested_payload_is_a_400(client, secret):
    nested = "[" * 5000 + "]" * 5000
    from urllib.parse import urlencode

    response = signed_post(client, INTERACTIONS_URL, urlencode({"payload": nested}).encode())
    assert response.status_code == 400
    assert b"nested too deeply" in response.content


@pytest.mark.django_db
def test_four_identical_signed_creates_make_one_incident(client, secret, settings):
    settings.SLACK_BOT_TOKEN = ""
    body = command_body(text="sev-2 Marketplace down")
    timestamp = int(time.time())
    replies = []
    for retry in range(4):
        headers = {"HTTP_X_SLACK_RETRY_NUM": str(retry), "HTTP_X_SLACK_RETRY_REASON": "http_timeout"} if retry else {}
        response = client.generic(
            "POST",
            COMMANDS_URL,
            body,
            content_type="application/x-www-form-urlencoded",
            HTTP_X_SLACK_REQUEST_TIMESTAMP=str(timestamp),
            HTTP_X_SLACK_SIGNATURE=sign(secret=SIGNING_SECRET, timestamp=timestamp, body=body),
            **headers,
        )
        assert response.status_code == 200
        replies.append(response.json())
    assert Incident.objects.count() == 1
    assert IncidentUpdate.objects.count() == 1
    assert replies[1:] == [replies[0]] * 3
    assert "Created" in replies[0]["text"]
    # The same text sent again later is a new request (a new timestamp), and is handled.
    assert signed_post(client, COMMANDS_URL, body, timestamp=timestamp + 1).status_code == 200
    assert Incident.objects.count() == 2
