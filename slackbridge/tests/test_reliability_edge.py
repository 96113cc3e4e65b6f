"""Reliability at the HTTP edge: forged requests, oversized bodies, malformed input, a failing database.

Every request here is a real form body through the Django test client; the "good" ones are
signed exactly as Slack signs them. See docs/RELIABILITY.md for what each test proves and
the mutation check that shows each one fails without its protection.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.db import connection
from django.db.models import Count, F, Max, Min
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from incidents.models import Incident, IncidentUpdate
from incidents.tests.factories import make_incident
from slackbridge.request import DATABASE_UNAVAILABLE, MAX_COMMAND_BODY, MAX_INTERACTION_BODY
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
    signed_post,
)

pytestmark = pytest.mark.reliability
ROOT = Path(__file__).resolve().parents[2]
GENERIC_FAILURE = "Something went wrong on our side"  # the catch-all: a bug reached it


@pytest.fixture
def slack_in(settings):
    """Inbound only: signed requests accepted, no bot token (so nothing leaves for Slack)."""
    settings.SLACK_SIGNING_SECRET = SIGNING_SECRET
    settings.SLACK_BOT_TOKEN = ""
    settings.SLACK_ALLOWED_TEAM_IDS = []


def assert_consistent():
    """Nothing half-written: every incident has exactly update_number + 1 timeline rows, numbered 1..n."""
    broken = (
        Incident.objects.annotate(rows=Count("updates"), low=Min("updates__number"), high=Max("updates__number"))
        .exclude(rows=F("update_number") + 1, low=1, high=F("update_number") + 1)
        .values_list("pk", "update_number", "rows", "low", "high")
    )
    assert list(broken) == []


# -- 6. forged / replayed / altered signatures --------------------------------------------------------------
def forged_variants(body: bytes, now: int) -> list[tuple[str, bytes, str, str]]:
    """(what, body, timestamp header, signature header) — none of them may be accepted."""
    ts = str(now)
    good = sign(secret=SIGNING_SECRET, timestamp=ts, body=body)
    out = [("unsigned", body, ts, ""), ("no timestamp", body, "", good)]
    for secret in (
        "",
        "wrong",
        SIGNING_SECRET[:-1],
        SIGNING_SECRET + "x",
        SIGNING_SECRET.upper(),
        " " + SIGNING_SECRET,
    ):
        out.append((f"secret {secret!r}", body, ts, sign(secret=secret, timestamp=ts, body=body)))
    for i in range(0, len(body), max(1, len(body) // 60)):  # one flipped byte at ~60 places
        altered = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
        out.append((f"body byte {i} flipped", altered, ts, good))
    for extra in (b"&text=sev-1+evil", b"&command=%2Fincidents", b" ", b"\n", b"&"):
        out.append((f"body + {extra!r}", body + extra, ts, good))
    out.append(("body truncated", body[:-1], ts, good))
    out.append(("empty body", b"", ts, good))
    for i in range(3, len(good)):  # every character of the hex digest changed in turn
        ch = "0" if good[i] != "0" else "1"
        out.append((f"signature char {i}", body, ts, good[:i] + ch + good[i + 1 :]))
    for what, sig in (
        ("upper", good.upper()),
        ("v1", "v1" + good[2:]),
        ("no version", good[3:]),
        ("truncated", good[:-1]),
        ("padded", good + "0"),
        ("spaces", f" {good} "),
        ("two signatures", f"{good},{good}"),
        ("zeros", "v0=" + "0" * 64),
        ("non-ascii", "v0=" + "é" * 64),
    ):
        out.append((f"signature {what}", body, ts, sig))
    for delta in (1, -1, 60):  # timestamp changed, signature of the original kept
        out.append((f"timestamp {delta:+d}", body, str(now + delta), good))
    for what, bad_ts in (
        ("padded", f" {ts}"),
        ("plus", f"+{ts}"),
        ("float", f"{ts}.0"),
        ("huge", "9" * 40),
        ("neg", "-1"),
    ):
        out.append((f"timestamp {what}", body, bad_ts, sign(secret=SIGNING_SECRET, timestamp=bad_ts, body=body)))
    for age in (310, 600, 3600, 86400, 10**7, -310, -3600):  # replayed later (or signed for the future); 10 s margin
        old = str(now - age)
        out.append((f"replay aged {age}s", body, old, sign(secret=SIGNING_SECRET, timestamp=old, body=body)))
    return out


@pytest.mark.django_db
@pytest.mark.parametrize("path", [COMMANDS_URL, INTERACTIONS_URL])
def test_forged_replayed_and_altered_requests_are_never_accepted(client, slack_in, path):
    body = command_body() if path == COMMANDS_URL else interaction_body(fixture("create_incident_modal_submission"))
    now = int(time.time())
    variants = forged_variants(body, now)
    accepted = []
    with CaptureQueriesContext(connection) as queries:  # a refused request touches no table
        for what, sent, ts, sig in variants:
            headers = {"HTTP_X_SLACK_REQUEST_TIMESTAMP": ts, "HTTP_X_SLACK_SIGNATURE": sig}
            headers = {k: v for k, v in headers.items() if v}
            response = client.generic("POST", path, sent, content_type="application/x-www-form-urlencoded", **headers)
            if response.status_code != 401 or response.content:
                accepted.append((what, response.status_code, ts, sig, sent[:60]))
    assert len(queries) == 0, [q["sql"] for q in queries]
    assert len(variants) >= 150
    assert accepted == [], f"{len(accepted)} of {len(variants)} forged requests accepted: {accepted[:5]}"
    assert not Incident.objects.exists()
    # Control: the genuine request is accepted, so the refusals above are the signature's doing.
    assert signed_post(client, path, body).status_code == 200


# -- 7. oversized bodies ---------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "limit"), [(COMMANDS_URL, MAX_COMMAND_BODY), (INTERACTIONS_URL, MAX_INTERACTION_BODY)]
)
def test_oversized_bodies_get_413_before_signature_or_parsing(client, slack_in, path, limit, django_assert_num_queries):
    if path == COMMANDS_URL:
        base = command_body()
    else:
        base = interaction_body(fixture("create_incident_modal_submission"))
    big = base + b"&pad=" + b"x" * (limit - len(base))  # limit + 5 bytes
    assert len(big) > limit
    with django_assert_num_queries(0):
        assert signed_post(client, path, big).status_code == 413  # correctly signed, still too big
        # Unsigned: 413, not 401, so the size was checked before any signature work.
        unsigned = client.generic("POST", path, big, content_type="application/x-www-form-urlencoded")
        assert unsigned.status_code == 413
        lying = client.generic(
            "POST", path, b"x", content_type="application/x-www-form-urlencoded", CONTENT_LENGTH="not-a-number"
        )
        assert lying.status_code == 400
    assert not Incident.objects.exists()
    # At the limit a signed request is served as usual.
    fits = base + b"&pad=" + b"x" * (limit - len(base) - 5)
    assert len(fits) == limit
    response = signed_post(client, path, fits)
    assert response.status_code == 200
    assert response.content  # a reply (the command's confirmation, or the form's own field errors)


# -- 5. malformed slash-command texts and interaction payloads -----------------------------------------------
COMMAND_NAMES = ["/create-incident", "/update-incident", "/incidents", "/Update-Incident", "/unknown"]
PREFIXES = [
    "",
    "help",
    "sev-",
    "sev-9 ",
    "SEV2 ",
    "[sev-1] ",
    "DCL-",
    "DCL-1 ",
    "1 ",
    "DCL-99999999999999999999 ",
    "DCL-1 rca ",
    "DCL-1 note ",
    "DCL-1 message ",
    "DCL-1 resolved ",
    "DCL-1 sev-0 ",
    "DCL-1 monitring ",
    "DCL-1 ack ",
    "all ",
    "<@U0X> ",
    "`",
    "*",
    "&lt;",
    "\u200b",
    "DCL-1 rca <https://x|y> ",
]
texts = st.builds(lambda p, t: p + t, st.sampled_from(PREFIXES), st.text(max_size=300))
HYPOTHESIS = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}


@pytest.mark.django_db
@settings(max_examples=500, **HYPOTHESIS)
@given(command=st.sampled_from(COMMAND_NAMES), text=texts)
def test_malformed_command_texts_get_a_reply_that_says_what_to_do(client, slack_in, command, text):
    if not Incident.objects.filter(pk=1).exists():
        make_incident("Fuzz target")
    body = urlencode({**fixture("create_incident_one_line"), "command": command, "text": text}).encode()
    response = signed_post(client, COMMANDS_URL, body)
    assert response.status_code == 200
    reply = response.json()
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].strip()
    assert GENERIC_FAILURE not in reply["text"], reply["text"]  # no exception escaped the grammar
    if reply["text"].startswith((":warning:", ":x:", "Crashbot does not know")):
        assert "*/" in reply["text"] or "/incidents" in reply["text"]  # the grammar is shown with the error
    assert_consistent()


def _json_values():
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=12,
    )


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _paths(child, (*prefix, i))


PAYLOAD_FIXTURES = [
    "create_incident_modal_submission",
    "update_incident_modal_submission",
    "resolve_incident_modal_submission",
    "headline_acknowledge_click",
    "headline_update_click",
    "headline_resolve_click",
    "update_incident_pick_action",
    "view_closed",
]


@st.composite
def mutated_payloads(draw):
    payload = for_incident(fixture(draw(st.sampled_from(PAYLOAD_FIXTURES))), 1)
    paths = [p for p in _paths(payload) if p]
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(paths))
        parent = payload
        try:
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(_json_values())
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    return payload


def _examples(payloads):
    def decorate(test):
        for payload in reversed(payloads):
            test = example(payload=payload)(test)
        return test

    return decorate


def _submission(**view) -> dict:
    payload = fixture("update_incident_modal_submission")
    payload["view"].update(view)
    return payload


# Shapes that once crashed the handlers, kept as explicit examples so they are always tried.
KNOWN_BAD = [
    _submission(blocks=[None]),
    _submission(blocks="x", private_metadata=["1"]),
    _submission(state={"values": []}),
    _submission(
        state={"values": {"title": None, "status": {"status": {"type": "static_select", "selected_option": []}}}}
    ),
    _submission(
        state={"values": {"reported_at": {"reported_at": {"type": "datetimepicker", "selected_date_time": "x"}}}}
    ),
    _submission(callback_id=["update_incident"]),
    {**fixture("headline_acknowledge_click"), "actions": [{"action_id": ["x"]}, {"action_id": "incident_acknowledge"}]},
    {
        **fixture("update_incident_pick_action"),
        "actions": [{"action_id": "update_pick_incident", "selected_option": []}],
    },
]


@pytest.mark.django_db
@settings(max_examples=500, **HYPOTHESIS)
@given(payload=mutated_payloads() | _json_values())
@_examples(KNOWN_BAD)
def test_malformed_interaction_payloads_never_500_and_forms_say_what_to_fix(client, slack_in, payload):
    if not Incident.objects.filter(pk=1).exists():
        make_incident("Fuzz target")
    response = signed_post(client, INTERACTIONS_URL, urlencode({"payload": json.dumps(payload)}).encode())
    assert response.status_code in (200, 400), response.content[:200]
    if response.status_code == 400:
        assert response.content.strip()  # says what was wrong with the request
    elif isinstance(payload, dict) and payload.get("type") == "view_submission" and response.content:
        reply = response.json()
        assert reply["response_action"] in ("errors", "update")
        if reply["response_action"] == "errors":
            assert reply["errors"]
            assert all(str(m).strip() for m in reply["errors"].values())
            assert all(GENERIC_FAILURE not in str(m) for m in reply["errors"].values()), reply
    assert_consistent()


# -- 4. database unavailable ------------------------------------------------------------------------------------
DB_DOWN_SCRIPT = r"""
import json, time, django
django.setup()
from django.test import Client
from slackbridge.signature import sign
from slackbridge.tests.slack_requests import command_body, fixture, interaction_body
c = Client()
def post(path, body):
    ts = str(int(time.time()))
    headers = {"HTTP_X_SLACK_REQUEST_TIMESTAMP": ts,
               "HTTP_X_SLACK_SIGNATURE": sign(secret="s3cret", timestamp=ts, body=body)}
    return c.generic("POST", path, body, content_type="application/x-www-form-urlencoded", **headers)
out = {}
for name, text in (("create", "sev-2 Marketplace down"), ("update", "DCL-1 resolved Fixed it")):
    fixture_name = "create_incident_one_line" if name == "create" else "update_incident_one_line"
    r = post("/slack/commands", command_body(fixture_name, text=text))
    out[name] = [r.status_code, r.json()]
r = post("/slack/interactions", interaction_body(fixture("create_incident_modal_submission")))
out["submission"] = [r.status_code, r.json()]
r = post("/slack/interactions", interaction_body(fixture("headline_acknowledge_click")))
out["click"] = [r.status_code, r.content.decode()]
out["healthz"] = c.get("/healthz").status_code
print(json.dumps(out))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_unreachable_gets_a_clear_ephemeral_error_and_healthz_503():
    """A real server process whose DATABASE_URL points at a port where nothing listens."""
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://nobody@127.0.0.1:{_free_port()}/crashbot",
        "DJANGO_SETTINGS_MODULE": "crashbot.settings",
        "SLACK_SIGNING_SECRET": "s3cret",
        "SLACK_BOT_TOKEN": "",
        "DEBUG": "true",
        "LOG_LEVEL": "CRITICAL",
    }
    result = subprocess.run(
        [sys.executable, "-c", DB_DOWN_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    for name, typed in (("create", "sev-2 Marketplace down"), ("update", "DCL-1 resolved Fixed it")):
        status, reply = out[name]
        assert status == 200
        assert reply["response_type"] == "ephemeral"
        assert DATABASE_UNAVAILABLE in reply["text"]
        assert typed in reply["text"]  # what they typed is handed back, so nothing is lost
    status, reply = out["submission"]
    assert status == 200
    assert reply["response_action"] == "errors"
    assert DATABASE_UNAVAILABLE in " ".join(reply["errors"].values())  # the form stays open with the message
    assert out["click"][0] == 200
    assert out["healthz"] == 503


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks with lock_timeout need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_database_failing_mid_command_writes_nothing(client, slack_in):
    """The incident row is locked by another session; our write times out inside the service."""
    from django.db import connections

    incident = make_incident("Locked")
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SELECT id FROM incidents_incident WHERE id = %s FOR UPDATE", [incident.pk])
                locked.set()
                release.wait(10)
                cursor.execute("ROLLBACK")
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(5)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '300ms'")
        for text in (f"{incident.key} resolved Fixed", f"{incident.key} sev-1 Worse", f"{incident.key} note n"):
            response = send_command(client, "update_incident_one_line", text=text)
            assert response.status_code == 200
            assert DATABASE_UNAVAILABLE in response.json()["text"]
            assert quote(text) not in response.json()["text"]
        payload = for_incident(fixture("update_incident_modal_submission"), incident.pk)
        reply = send_interaction(client, payload).json()
        assert reply["response_action"] == "errors"
        assert DATABASE_UNAVAILABLE in " ".join(reply["errors"].values())
    finally:
        release.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
    incident.refresh_from_db()
    assert (incident.status, incident.severity, incident.update_number) == ("investigating", "sev-3", 0)
    assert IncidentUpdate.objects.filter(incident=incident).count() == 1
    assert_consistent()
