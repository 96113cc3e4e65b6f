"""Tests for the fake Slack server, driven through the real slack_sdk WebClient."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator

import jwt
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from slackbridge.tests.fakeslack import DEFAULT_CHANNEL, OIDC_ISSUER, FakeSlack, OIDCIdentity

TOKEN = "xoxb-test"
TS_RE = re.compile(r"^\d{10}\.\d{6}$")
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*SEV1*"}}]
MODAL = {"type": "modal", "title": {"type": "plain_text", "text": "Declare"}, "blocks": BLOCKS}


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(trigger_ttl=0.2) as server:
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    """A client with no retry handlers, so raw errors reach the test."""
    return WebClient(token=TOKEN, base_url=fake.api_url, retry_handlers=[])


def slack_error(call: Callable[[], object]) -> SlackApiError:
    """Run a client call that must fail and return its error, for asserting on the raw response."""
    with pytest.raises(SlackApiError) as info:
        call()
    return info.value


def test_urls_and_lifecycle() -> None:
    fake = FakeSlack()
    with pytest.raises(RuntimeError):
        _ = fake.url
    with fake:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", fake.url)
        assert fake.api_url == fake.url + "/api/"
        assert WebClient(token=TOKEN, base_url=fake.api_url).auth_test()["ok"]
    fake.start()
    fake.stop()


def test_post_update_and_thread_reply(fake: FakeSlack, client: WebClient) -> None:
    first = client.chat_postMessage(channel=DEFAULT_CHANNEL, text="SEV1", blocks=BLOCKS)
    assert first["channel"] == DEFAULT_CHANNEL
    assert TS_RE.match(first["ts"])
    assert first["message"]["blocks"] == BLOCKS

    updated = client.chat_update(channel=DEFAULT_CHANNEL, ts=first["ts"], text="SEV2")
    assert updated["message"]["text"] == "SEV2"
    client.chat_update(channel=DEFAULT_CHANNEL, ts=first["ts"], text="SEV3")
    assert fake.edit_count(DEFAULT_CHANNEL, first["ts"]) == 2

    reply = client.chat_postMessage(channel=DEFAULT_CHANNEL, text="update", thread_ts=first["ts"])
    second = client.chat_postMessage(channel="#incidents", text="other")
    assert first["ts"] < reply["ts"] < second["ts"]
    assert [m["text"] for m in fake.messages(DEFAULT_CHANNEL)] == ["SEV3", "other"]
    replies = fake.replies(DEFAULT_CHANNEL, first["ts"])
    assert [(m["text"], m["thread_ts"]) for m in replies] == [("update", first["ts"])]
    assert fake.message(DEFAULT_CHANNEL, first["ts"])["reply_count"] == 1

    missing = slack_error(lambda: client.chat_update(channel=DEFAULT_CHANNEL, ts="1.000000", text="x"))
    assert missing.response["error"] == "message_not_found"


def test_ephemeral_is_stored_apart(fake: FakeSlack, client: WebClient) -> None:
    resp = client.chat_postEphemeral(channel=DEFAULT_CHANNEL, user="U0POINT", text="hi")
    assert TS_RE.match(resp["message_ts"])
    assert fake.messages(DEFAULT_CHANNEL) == []
    assert [m["user"] for m in fake.ephemerals(DEFAULT_CHANNEL)] == ["U0POINT"]


def test_channel_errors(fake: FakeSlack, client: WebClient) -> None:
    err = slack_error(lambda: client.chat_postMessage(channel="C0NOPE", text="x"))
    assert err.response["error"] == "channel_not_found"
    fake.remove_bot_from(DEFAULT_CHANNEL)
    err = slack_error(lambda: client.chat_postMessage(channel=DEFAULT_CHANNEL, text="x"))
    assert err.response["error"] == "not_in_channel"
    info = client.conversations_info(channel=DEFAULT_CHANNEL)
    assert info["channel"]["is_member"] is False


def test_topic_longer_than_250_is_rejected(fake: FakeSlack, client: WebClient) -> None:
    client.conversations_setTopic(channel=DEFAULT_CHANNEL, topic="x" * 250)
    err = slack_error(lambda: client.conversations_setTopic(channel=DEFAULT_CHANNEL, topic="y" * 251))
    assert err.response["error"] == "too_long"
    assert fake.topic(DEFAULT_CHANNEL) == "x" * 250
    info = client.conversations_info(channel=DEFAULT_CHANNEL)
    assert info["channel"]["topic"]["value"] == "x" * 250


@pytest.fixture(scope="module")
def shared_fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@settings(max_examples=60, deadline=None)
@given(topic=st.text(max_size=300))
def test_topic_limit_property(shared_fake: FakeSlack, topic: str) -> None:
    client = WebClient(token=TOKEN, base_url=shared_fake.api_url, retry_handlers=[])
    before = shared_fake.topic(DEFAULT_CHANNEL)
    shared_fake.reset_calls()
    accepted = len(topic) <= 250
    if accepted:
        client.conversations_setTopic(channel=DEFAULT_CHANNEL, topic=topic)
    else:
        err = slack_error(lambda: client.conversations_setTopic(channel=DEFAULT_CHANNEL, topic=topic))
        assert err.response["error"] == "too_long"
    assert shared_fake.calls_to("conversations.setTopic")[0].params["topic"] == topic
    assert shared_fake.topic(DEFAULT_CHANNEL) == (topic if accepted else before)


def test_users_info_is_recorded_with_params(fake: FakeSlack, client: WebClient) -> None:
    user = client.users_info(user="U0POINT")["user"]
    assert user["id"] == "U0POINT"
    assert user["real_name"] == "Ada Point"
    assert user["profile"]["display_name"] == "Ada Point"
    assert client.users_info(user="U0CONTACT")["user"]["real_name"] == "Carl Contact"

    fake.add_user("U0NEW", "newbie", real_name="New Person")
    assert client.users_info(user="U0NEW")["user"]["profile"]["real_name"] == "New Person"
    err = slack_error(lambda: client.users_info(user="U0GHOST"))
    assert err.response["error"] == "user_not_found"

    calls = fake.calls_to("users.info")
    assert [c.params for c in calls] == [
        {"user": "U0POINT"},
        {"user": "U0CONTACT"},
        {"user": "U0NEW"},
        {"user": "U0GHOST"},
    ]
    assert calls[0]["method"] == "users.info"
    assert [c.http_status for c in calls] == [200] * 4
    assert calls[0].at <= calls[1].at


def test_plain_get_and_form_bodies(fake: FakeSlack, client: WebClient) -> None:
    query = urllib.parse.urlencode({"token": TOKEN, "user": "U0POINT"})
    with urllib.request.urlopen(f"{fake.api_url}users.info?{query}") as resp:  # noqa: S310
        assert json.load(resp)["user"]["id"] == "U0POINT"
    assert fake.calls_to("users.info")[-1].params == {"user": "U0POINT"}

    form = {"channel": DEFAULT_CHANNEL, "text": "form", "blocks": json.dumps(BLOCKS)}
    resp = client.api_call("chat.postMessage", params=form)
    assert fake.message(DEFAULT_CHANNEL, resp["ts"])["blocks"] == BLOCKS


def test_auth_errors(fake: FakeSlack) -> None:
    anonymous = WebClient(base_url=fake.api_url, retry_handlers=[])
    assert slack_error(anonymous.auth_test).response["error"] == "not_authed"
    wrong = WebClient(token="xoxb-wrong", base_url=fake.api_url, retry_handlers=[])
    assert slack_error(wrong.auth_test).response["error"] == "invalid_auth"
    with FakeSlack(tokens=("xoxb-other",)) as other:
        ok = WebClient(token="xoxb-other", base_url=other.api_url)
        assert ok.auth_test()["user_id"]


def test_unknown_method(client: WebClient) -> None:
    assert slack_error(lambda: client.api_call("nope.nope")).response["error"] == "unknown_method"
    assert slack_error(lambda: client.api_call("views_open")).response["error"] == "unknown_method"


def test_trigger_is_single_use(fake: FakeSlack, client: WebClient) -> None:
    trigger = fake.new_trigger()
    view = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert view["id"].startswith("V0")
    assert fake.views[view["id"]]["title"] == MODAL["title"]
    err = slack_error(lambda: client.views_open(trigger_id=trigger, view=MODAL))
    assert err.response["error"] == "invalid_trigger_id"
    err = slack_error(lambda: client.views_open(trigger_id="123.456.abc", view=MODAL))
    assert err.response["error"] == "invalid_trigger_id"


def test_trigger_expires(fake: FakeSlack, client: WebClient) -> None:
    trigger = fake.new_trigger()
    time.sleep(0.3)
    err = slack_error(lambda: client.views_open(trigger_id=trigger, view=MODAL))
    assert err.response["error"] == "expired_trigger_id"


def test_views_update_and_push(fake: FakeSlack, client: WebClient) -> None:
    modal = {**MODAL, "external_id": "incident-42"}
    opened = client.views_open(trigger_id=fake.new_trigger(), view=modal)["view"]
    new = {**modal, "blocks": BLOCKS}
    updated = client.views_update(view_id=opened["id"], view=new, hash=opened["hash"])
    assert updated["view"]["id"] == opened["id"]
    assert fake.views[opened["id"]]["blocks"] == BLOCKS
    by_external = client.views_update(external_id="incident-42", view=modal)
    assert by_external["view"]["id"] == opened["id"]

    stale = slack_error(lambda: client.views_update(view_id=opened["id"], view=new, hash=opened["hash"]))
    assert stale.response["error"] == "hash_conflict"
    err = slack_error(lambda: client.views_update(view_id="V0GONE", view=MODAL))
    assert err.response["error"] == "not_found"
    pushed = client.views_push(trigger_id=fake.new_trigger(), view=MODAL)["view"]
    assert set(fake.views) == {opened["id"], pushed["id"]}


def test_fail_injects_ok_false(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("chat.postMessage", error="is_archived", times=1)
    err = slack_error(lambda: client.chat_postMessage(channel=DEFAULT_CHANNEL, text="x"))
    assert err.response.status_code == 200
    assert err.response["error"] == "is_archived"
    client.chat_postMessage(channel=DEFAULT_CHANNEL, text="x")
    assert len(fake.messages(DEFAULT_CHANNEL)) == 1

    fake.fail()  # every method, until cleared
    assert slack_error(client.auth_test).response["error"] == "channel_not_found"
    assert slack_error(client.auth_test).response["error"] == "channel_not_found"
    fake.clear_faults()
    assert client.auth_test()["ok"]
    statuses = [(c.method, c.response["ok"]) for c in fake.calls]
    assert statuses == [
        ("chat.postMessage", False),
        ("chat.postMessage", True),
        ("auth.test", False),
        ("auth.test", False),
        ("auth.test", True),
    ]


def test_http_error(fake: FakeSlack, client: WebClient) -> None:
    fake.http_error(503, method="chat.postMessage", times=1)
    err = slack_error(lambda: client.chat_postMessage(channel=DEFAULT_CHANNEL, text="x"))
    assert err.response.status_code == 503
    assert client.auth_test()["ok"]  # other methods are unaffected
    client.chat_postMessage(channel=DEFAULT_CHANNEL, text="x")
    assert [c.http_status for c in fake.calls_to("chat.postMessage")] == [503, 200]
    assert fake.messages(DEFAULT_CHANNEL)[0]["text"] == "x"


def test_rate_limit_exposes_retry_after(fake: FakeSlack, client: WebClient) -> None:
    fake.rate_limit(retry_after=2, method="users.info")
    err = slack_error(lambda: client.users_info(user="U0POINT"))
    assert err.response.status_code == 429
    assert err.response.headers["Retry-After"] == "2"
    assert err.response["error"] == "ratelimited"
    assert client.users_info(user="U0POINT")["ok"]  # times=1 by default
    assert [c.http_status for c in fake.calls] == [429, 200]


def test_rate_limit_retried_by_sdk_handler(fake: FakeSlack) -> None:
    handler = RateLimitErrorRetryHandler(max_retry_count=1)
    client = WebClient(token=TOKEN, base_url=fake.api_url, retry_handlers=[handler])
    fake.rate_limit(retry_after=0)
    assert client.auth_test()["ok"]
    assert [c.http_status for c in fake.calls_to("auth.test")] == [429, 200]


def test_delay_except_methods(fake: FakeSlack, client: WebClient) -> None:
    fake.delay(0.5, except_methods=("views.open",))
    started = time.monotonic()
    slow_call = threading.Thread(target=client.auth_test)
    slow_call.start()
    time.sleep(0.05)  # the slow call is now sleeping inside the fake
    client.views_open(trigger_id=fake.new_trigger(), view=MODAL)
    assert time.monotonic() - started < 0.4  # not queued behind the slow call
    slow_call.join()
    assert time.monotonic() - started >= 0.5
    auth_call = fake.calls_to("auth.test")[0]
    assert auth_call.at - started < 0.4  # ``at`` is arrival time, not answer time
    assert [c.method for c in fake.calls] == ["auth.test", "views.open"]

    fake.clear_faults()
    started = time.monotonic()
    client.auth_test()
    assert time.monotonic() - started < 0.4


def test_concurrent_calls_are_all_recorded(fake: FakeSlack, client: WebClient) -> None:
    def post(n: int) -> None:
        client.chat_postMessage(channel=DEFAULT_CHANNEL, text=str(n))

    threads = [threading.Thread(target=post, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake.calls_to("chat.postMessage")) == 20
    ts = [m["ts"] for m in fake.messages(DEFAULT_CHANNEL)]
    assert len(set(ts)) == 20
    assert ts == sorted(ts)
    fake.reset_calls()
    assert fake.calls == []


# -- as strict as Slack ---------------------------------------------------------------------------------------
def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(text: str = "Go", value: str = "1") -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": "go", "value": value}


def _options(n: int, label: str = "x") -> list[dict]:
    return [{"text": {"type": "plain_text", "text": label}, "value": str(i)} for i in range(n)]


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([_section("x" * 3001)], "/blocks/0/text/text"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}], "/blocks/0/fields/0"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "x"}] * 11}], "/blocks/0/fields"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}], "/blocks/0/text/text"),
        ([_section("x")] * 51, "/blocks"),
        ([{"type": "actions", "elements": [_button("x" * 76)]}], "/blocks/0/elements/0/text/text"),
        ([{"type": "actions", "elements": [_button(value="x" * 2001)]}], "/blocks/0/elements/0/value"),
        ([_section("")], "/blocks/0/text/text"),
        ([{**_section("a"), "block_id": "same"}, {**_section("b"), "block_id": "same"}], "/blocks/1/block_id"),
    ],
)
def test_messages_over_block_kit_limits_are_refused(fake: FakeSlack, client: WebClient, blocks, pointer) -> None:
    err = slack_error(lambda: client.chat_postMessage(channel=DEFAULT_CHANNEL, text="x", blocks=blocks))
    assert err.response["error"] == "invalid_blocks"
    assert any(pointer in e for e in err.response["errors"]), err.response["errors"]
    assert fake.messages(DEFAULT_CHANNEL) == []
    posted = client.chat_postMessage(channel=DEFAULT_CHANNEL, text="x", blocks=BLOCKS)
    err = slack_error(lambda: client.chat_update(channel=DEFAULT_CHANNEL, ts=posted["ts"], text="x", blocks=blocks))
    assert err.response["error"] == "invalid_blocks"
    assert fake.message(DEFAULT_CHANNEL, posted["ts"])["blocks"] == BLOCKS


def _modal(**fields) -> dict:
    return {**MODAL, **fields}


@pytest.mark.parametrize(
    "view",
    [
        _modal(title={"type": "plain_text", "text": "x" * 25}),
        _modal(submit={"type": "plain_text", "text": "x" * 25}),
        _modal(close={"type": "plain_text", "text": "x" * 25}),
        _modal(private_metadata="x" * 3001),
        _modal(blocks=[_section("x")] * 101),
        _modal(
            blocks=[
                {
                    "type": "input",
                    "label": {"type": "plain_text", "text": "C"},
                    "element": {"type": "multi_static_select", "action_id": "c", "options": _options(101)},
                }
            ]
        ),
        _modal(
            blocks=[
                {
                    "type": "input",
                    "label": {"type": "plain_text", "text": "C"},
                    "element": {"type": "static_select", "action_id": "c", "options": _options(2, "x" * 76)},
                }
            ]
        ),
    ],
)
def test_views_over_limits_are_refused(fake: FakeSlack, client: WebClient, view) -> None:
    err = slack_error(lambda: client.views_open(trigger_id=fake.new_trigger(), view=view))
    assert err.response["error"] == "invalid_blocks"
    assert fake.views == {}


def test_views_within_limits_pass(fake: FakeSlack, client: WebClient) -> None:
    view = _modal(
        title={"type": "plain_text", "text": "x" * 24},
        private_metadata="x" * 3000,
        blocks=[_section("x" * 3000)] * 100,
    )
    assert client.views_open(trigger_id=fake.new_trigger(), view=view)["ok"]


def test_channel_ids_only_where_slack_wants_them(fake: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="#incidents", text="x")
    assert posted["channel"] == DEFAULT_CHANNEL
    err = slack_error(lambda: client.chat_update(channel="#incidents", ts=posted["ts"], text="y"))
    assert err.response["error"] == "channel_not_found"
    err = slack_error(lambda: client.conversations_setTopic(channel="incidents", topic="t"))
    assert err.response["error"] == "channel_not_found"
    fake.remove_bot_from(DEFAULT_CHANNEL)
    err = slack_error(lambda: client.conversations_setTopic(channel=DEFAULT_CHANNEL, topic="t"))
    assert err.response["error"] == "not_in_channel"


def test_post_rate_limit_per_channel(fake: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel=DEFAULT_CHANNEL, text="1")
    client.chat_postMessage(channel=DEFAULT_CHANNEL, text="2")  # off by default
    fake.post_rate_limit(per_second=1.0, burst=1)
    client.chat_postMessage(channel=DEFAULT_CHANNEL, text="3")
    err = slack_error(lambda: client.chat_postMessage(channel=DEFAULT_CHANNEL, text="4"))
    assert err.response.status_code == 429
    assert int(err.response.headers["Retry-After"]) >= 1
    fake.add_channel("C0OTHER", "other")
    client.chat_postMessage(channel="C0OTHER", text="other channels have their own budget")
    time.sleep(1.05)
    client.chat_postMessage(channel=DEFAULT_CHANNEL, text="5")
    assert [m["text"] for m in fake.messages(DEFAULT_CHANNEL)] == ["1", "2", "3", "5"]


def test_response_url_records_posts(fake: FakeSlack) -> None:
    url = fake.response_url("click")
    body = json.dumps({"response_type": "ephemeral", "text": "Could not open the form"}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")  # noqa: S310
    with urllib.request.urlopen(request) as resp:  # noqa: S310
        assert resp.status == 200
    assert fake.responses["click"] == [{"response_type": "ephemeral", "text": "Could not open the form"}]


# -- Sign in with Slack (OpenID Connect) ---------------------------------------------------------------------------
OIDC_APP = ("111.222", "app-secret")
REDIRECT = "https://crashbot.example/oidc/callback/"


@pytest.fixture
def oidc(fake: FakeSlack) -> FakeSlack:
    fake.oidc_client(*OIDC_APP, (REDIRECT,))
    fake.oidc_sign_in_as(OIDCIdentity("U0ADA", "ada@example.com", name="Ada"))
    return fake


def authorize(fake: FakeSlack, **overrides: str) -> requests.Response:
    params = {
        "response_type": "code",
        "scope": "openid email profile",
        "client_id": OIDC_APP[0],
        "redirect_uri": REDIRECT,
        "state": "st",
        "nonce": "nn",
        **overrides,
    }
    return requests.get(fake.oidc_authorize_url(), params=params, allow_redirects=False, timeout=5)


def redirect_query(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = urllib.parse.urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return dict(urllib.parse.parse_qsl(location.query))


def test_oidc_authorize_refuses_unknown_apps_and_redirect_urls_without_redirecting(oidc: FakeSlack) -> None:
    assert authorize(oidc, client_id="999.999").json()["error"] == "invalid_client_id"
    wrong = authorize(oidc, redirect_uri="https://evil.example/cb")
    assert (wrong.status_code, wrong.json()["error"]) == (400, "bad_redirect_uri")
    assert "Location" not in wrong.headers


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"scope": "email profile"}, "invalid_scope"),
        ({"scope": "openid chat:write"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_oidc_authorize_sends_other_faults_back_with_the_state(oidc: FakeSlack, overrides, error) -> None:
    assert redirect_query(authorize(oidc, **overrides)) == {"error": error, "state": "st"}


def test_oidc_code_flow_with_the_sdk(oidc: FakeSlack) -> None:
    code = redirect_query(authorize(oidc))["code"]
    sdk = WebClient(base_url=oidc.api_url, retry_handlers=[])  # sends the app's credentials as HTTP Basic auth
    tokens = sdk.openid_connect_token(
        client_id=OIDC_APP[0], client_secret=OIDC_APP[1], code=code, redirect_uri=REDIRECT
    )
    jwks = jwt.PyJWKSet.from_json(requests.get(oidc.oidc_jwks_url(), timeout=5).text)
    kid = jwt.get_unverified_header(tokens["id_token"])["kid"]
    claims = jwt.decode(tokens["id_token"], jwks[kid], algorithms=["RS256"], audience=OIDC_APP[0], issuer=OIDC_ISSUER)
    assert claims["nonce"] == "nn"
    assert claims["sub"] == claims["https://slack.com/user_id"] == "U0ADA"
    assert (claims["https://slack.com/team_id"], claims["email"], claims["email_verified"]) == (
        "T0CRASH",
        "ada@example.com",
        True,
    )
    info = WebClient(token=tokens["access_token"], base_url=oidc.api_url, retry_handlers=[]).openid_connect_userInfo()
    assert (info["sub"], info["email"], info["name"]) == ("U0ADA", "ada@example.com", "Ada")
    # A code is good once.
    again = slack_error(
        lambda: sdk.openid_connect_token(
            client_id=OIDC_APP[0], client_secret=OIDC_APP[1], code=code, redirect_uri=REDIRECT
        )
    )
    assert again.response["error"] == "invalid_code"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"client_secret": "wrong"}, "bad_client_secret"),
        ({"client_id": "999.999"}, "invalid_client_id"),
        ({"redirect_uri": "https://crashbot.example/other/"}, "bad_redirect_uri"),
        ({"code": "1.made-up"}, "invalid_code"),
        ({"grant_type": "refresh_token"}, "invalid_grant_type"),
    ],
)
def test_oidc_token_refuses_what_slack_refuses(oidc: FakeSlack, fields, error) -> None:
    body = {
        "client_id": OIDC_APP[0],
        "client_secret": OIDC_APP[1],
        "code": redirect_query(authorize(oidc))["code"],
        "redirect_uri": REDIRECT,
        "grant_type": "authorization_code",
        **fields,
    }
    answer = requests.post(oidc.api_url + "openid.connect.token", data=body, timeout=5)
    assert (answer.status_code, answer.json()) == (200, {"ok": False, "error": error})


def test_oidc_userinfo_needs_the_users_token(oidc: FakeSlack) -> None:
    url = oidc.api_url + "openid.connect.userInfo"
    assert requests.get(url, timeout=5).json() == {"ok": False, "error": "not_authed"}
    bot = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).json()
    assert bot == {"ok": False, "error": "invalid_auth"}
