"""The sign-up pages: double opt-in, same answer for known addresses, abuse limits, SSRF refusals, bad input."""

import socket

import pytest
from django.test import Client

from incidents.tests.factories import make_component
from subscriptions.models import Subscriber
from subscriptions.tests.util import drain, link, text_of

pytestmark = pytest.mark.django_db(transaction=True)


def post(client, **data):
    return client.post("/subscribe", data)


@pytest.fixture
def resolver(monkeypatch):
    """A resolver with fixed answers: no DNS traffic; and no socket may be opened at all."""
    answers = {
        "hooks.example.com": ["93.184.216.34"],
        "intranet.example.com": ["10.1.2.3"],
        "sneaky.example.com": ["93.184.216.34", "127.0.0.1"],
        "v6.example.com": ["fd00::1"],
        "hooks.slack.com": ["52.1.2.3"],
    }
    calls = []

    def getaddrinfo(host, port, *args, **kwargs):
        calls.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    def no_connection(*args, **kwargs):
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", no_connection)
    return calls


def test_the_page_offers_the_three_kinds_and_the_components(client):
    make_component("Marketplace", slug="marketplace")
    page = client.get("/subscribe")
    assert page.status_code == 200
    html = page.content.decode()
    for kind in ("email", "webhook", "slack"):
        assert f'value="{kind}"' in html
    assert "Marketplace" in html
    assert 'name="website"' in html  # the honeypot
    assert "no-store" in page["Cache-Control"] or "no-cache" in page["Cache-Control"]
    assert 'href="/subscribe"' in client.get("/").content.decode()  # linked from the page header


def test_same_answer_whether_or_not_the_address_is_subscribed(client, smtp):
    first = post(client, kind="email", email="ann@example.com")
    drain()
    client.post(link(smtp.to("ann@example.com")[0], "confirm"))
    again = post(client, kind="email", email="ann@example.com")
    stranger = post(client, kind="email", email="bob@example.com")
    assert first.status_code == again.status_code == stranger.status_code == 302
    assert first["Location"] == again["Location"] == stranger["Location"]
    drain()
    manage_mail = smtp.to("ann@example.com")[1]
    assert "already subscribed" in text_of(manage_mail)
    assert link(manage_mail, "manage")
    assert "/subscriptions/confirm/" not in text_of(manage_mail)
    assert "/subscriptions/confirm/" in text_of(smtp.to("bob@example.com")[0])
    assert Subscriber.objects.filter(address="ann@example.com").count() == 1


def test_nothing_is_sent_in_the_web_request(client, smtp):
    post(client, kind="email", email="ann@example.com")
    assert smtp.messages == []
    drain()
    assert len(smtp.messages) == 1


def test_rate_limit_per_address(client, smtp, settings):
    for n in range(7):
        response = Client(REMOTE_ADDR=f"192.0.2.{n}").post("/subscribe", {"kind": "email", "email": "ann@example.com"})
        assert response.status_code == 302  # the same answer: the limit tells nothing about the address
    drain()
    assert len(smtp.to("ann@example.com")) == settings.SUBSCRIPTIONS_RATE_LIMIT


def test_rate_limit_per_client(client, smtp):
    answers = [post(client, kind="email", email=f"user{n}@example.com").status_code for n in range(7)]
    assert answers == [302] * 5 + [429] * 2
    other = Client(REMOTE_ADDR="198.51.100.7").post("/subscribe", {"kind": "email", "email": "x@example.com"})
    assert other.status_code == 302
    drain()
    assert len(smtp.messages) == 6


def test_trusted_proxy_forwarded_for_is_the_client(smtp, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    behind = Client(REMOTE_ADDR="10.0.0.1")
    codes = [
        behind.post(
            "/subscribe", {"kind": "email", "email": f"u{n}@example.com"}, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}"
        ).status_code
        for n in range(8)
    ]
    assert codes == [302] * 8  # eight different clients behind one proxy
    spoofed = Client(REMOTE_ADDR="198.51.100.9")
    codes = [
        spoofed.post(
            "/subscribe", {"kind": "email", "email": f"s{n}@example.com"}, HTTP_X_FORWARDED_FOR=f"1.2.3.{n}"
        ).status_code
        for n in range(6)
    ]
    assert codes[-1] == 429  # X-Forwarded-For from an untrusted peer is ignored


def test_honeypot_answers_like_success_and_does_nothing(client, smtp):
    response = post(client, kind="email", email="bot@example.com", website="http://spam.example")
    assert response.status_code == 302
    drain()
    assert smtp.messages == []
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize(
    "address", ["mailer-daemon@example.com", "postmaster@example.com", "no-reply@example.com", "noreply+x@example.com",
                "status@status.example.com"],
)  # fmt: skip
def test_bounce_and_no_reply_addresses_never_subscribe(client, smtp, address):
    response = post(client, kind="email", email=address)
    assert response.status_code == 400
    assert "does not receive mail" in response.content.decode()
    drain()
    assert smtp.messages == []


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"kind": "email", "email": ""}, "Enter your email address."),
        ({"kind": "email", "email": "not-an-address"}, "Enter a valid email address."),
        ({"kind": "pigeon", "email": "ann@example.com"}, "Select a valid choice"),
        ({"kind": "webhook", "url": "", "contact_email": "a@example.com"}, "Enter the URL to call."),
        ({"kind": "webhook", "url": "https://hooks.example.com/x"}, "Enter a contact email"),
        ({"kind": "email", "email": "a@example.com", "components": ["999999"]}, "Select a valid choice"),
        ({"kind": "email", "email": "a\x00b@example.com"}, "Null characters are not allowed."),
        ({"kind": "webhook", "url": "https://hooks.example.com/" + "x" * 600, "contact_email": "a@example.com"},
         "Ensure this value has at most 500 characters"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_with_the_reason(client, resolver, data, error):
    response = post(client, **data)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/hook", "private, loopback or link-local"),
        ("https://10.0.0.5/hook", "private, loopback or link-local"),
        ("https://169.254.169.254/latest/meta-data", "private, loopback or link-local"),
        ("https://[::1]/hook", "private, loopback or link-local"),
        ("https://[fe80::1]/hook", "private, loopback or link-local"),
        ("https://[::ffff:127.0.0.1]/hook", "private, loopback or link-local"),
        ("https://intranet.example.com/hook", "private, loopback or link-local"),
        ("https://sneaky.example.com/hook", "private, loopback or link-local"),
        ("https://v6.example.com/hook", "private, loopback or link-local"),
        ("http://hooks.example.com/hook", "must start with https://"),
        ("ftp://hooks.example.com/hook", "must start with https://"),
        ("https://nowhere.invalid/hook", "could not be resolved"),
        ("https://user:pw@hooks.example.com/hook", "user name or password"),
    ],
)
def test_ssrf_refusals_before_any_connection(client, resolver, url, reason):
    response = post(client, kind="webhook", url=url, contact_email="ops@example.com")
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not Subscriber.objects.exists()


def test_public_webhook_url_is_accepted_without_connecting(client, resolver):
    response = post(client, kind="webhook", url="https://hooks.example.com/status", contact_email="ops@example.com")
    assert response.status_code == 302
    assert resolver == ["hooks.example.com"]
    assert Subscriber.objects.get().contact_email == "ops@example.com"


def test_slack_kind_needs_a_slack_incoming_webhook(client, resolver):
    refused = post(client, kind="slack", url="https://hooks.example.com/x", contact_email="ops@example.com")
    assert refused.status_code == 400
    assert "hooks.slack.com" in refused.content.decode()
    accepted = post(client, kind="slack", url="https://hooks.slack.com/services/T0/B0/x", contact_email="o@example.com")
    assert accepted.status_code == 302


def test_confirm_get_never_confirms_and_unknown_tokens_are_404(client, smtp):
    post(client, kind="email", email="ann@example.com")
    drain()
    path = link(smtp.to("ann@example.com")[0], "confirm")
    for _ in range(3):
        assert client.get(path).status_code == 200
    assert not Subscriber.objects.get().confirmed
    for prefix in ("confirm", "manage", "unsubscribe"):
        response = client.get(f"/subscriptions/{prefix}/not-a-token")
        assert response.status_code == 404
        assert "no longer valid" in response.content.decode()
    assert client.post("/subscriptions/confirm/" + "x" * 300).status_code == 404


def test_manage_changes_components_and_rotates_the_secret(client, smtp, receiver):
    market = make_component("Marketplace", slug="marketplace")
    post(client, kind="webhook", url=receiver.url(), contact_email="ops@example.com")
    drain()
    confirm = link(smtp.to("ops@example.com")[0], "confirm")
    shown = client.post(confirm).content.decode()
    subscriber = Subscriber.objects.get()
    assert subscriber.secret in shown
    again = client.post(confirm).content.decode()
    assert subscriber.secret not in again  # shown once
    manage = f"/subscriptions/manage/{subscriber.token}"
    page = client.get(manage).content.decode()
    assert subscriber.secret not in page
    assert client.post(manage, {"action": "components", "components": [market.pk]}).status_code == 200
    assert list(subscriber.components.all()) == [market]
    old = subscriber.secret
    rotated = client.post(manage, {"action": "rotate"})
    subscriber.refresh_from_db()
    assert subscriber.secret != old
    assert subscriber.secret in rotated.content.decode()
    assert len(subscriber.secret) == 64
    assert client.post(manage, {"action": "components", "components": ["nope"]}).status_code == 400
