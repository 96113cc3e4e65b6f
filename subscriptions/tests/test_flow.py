"""End to end: subscribe through the pages, confirm from the real mail, then incidents from signed Slack
commands reach email (real SMTP), webhook and Slack-kind subscribers (real HTTP) through the worker."""

import hashlib
import hmac
import json

import pytest

from incidents import services
from incidents.models import Incident, Source, Visibility
from incidents.tests.factories import make_component, make_incident
from slackbridge.tests.slack_requests import send_command
from subscriptions.models import Delivery, DeliveryState, Subscriber
from subscriptions.tests.util import drain, failed_tasks, header, html_of, link, subject, text_of

pytestmark = pytest.mark.django_db(transaction=True)


def subscribe_and_confirm(client, smtp, **data) -> Subscriber:
    response = client.post("/subscribe", data)
    assert response.status_code == 302, response.content.decode()
    assert response["Location"] == "/subscribe/check-your-inbox"
    to = (data.get("email") or data["contact_email"]).lower()
    before = len(smtp.to(to))
    drain()
    mail = smtp.to(to)[before]
    path = link(mail, "confirm")
    page = client.get(path)
    assert page.status_code == 200
    assert "Confirm subscription" in page.content.decode()
    subscriber = Subscriber.objects.get(token=path.rsplit("/", 1)[1])
    assert not subscriber.confirmed  # the GET (a mail scanner's prefetch) changed nothing
    confirmed = client.post(path)
    assert confirmed.status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.confirmed
    subscriber.page = confirmed.content.decode()
    return subscriber


def slack(client, text: str, name: str = "update_incident_one_line"):
    response = send_command(client, name, text=text)
    assert response.status_code == 200, response.content
    return response


def verify(secret: str, headers: dict, body: bytes) -> bool:
    """An independent receiver-side check, as docs/SUBSCRIPTIONS.md tells receivers to do it."""
    expected = hmac.new(secret.encode(), headers["x-crashbot-timestamp"].encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(headers["x-crashbot-signature"], "v1=" + expected.hexdigest())


def test_email_webhook_and_slack_subscribers_hear_about_an_incident_from_slack(client, smtp, receiver):
    ann = subscribe_and_confirm(client, smtp, kind="email", email="Ann@Example.com")
    assert ann.address == "ann@example.com"
    hook = subscribe_and_confirm(client, smtp, kind="webhook", url=receiver.url("/hook"), contact_email="ops@acme.test")
    assert hook.secret in hook.page  # shown once, on confirmation
    assert len(hook.secret) == 64
    assert bytes.fromhex(hook.secret)
    subscribe_and_confirm(client, smtp, kind="slack", url=receiver.url("/slack"), contact_email="t@acme.test")

    slack(
        client, "sev-2 Marketplace &lt;down&gt; &amp; out", name="create_incident_one_line"
    )  # escaped as Slack sends it
    drain()
    incident = Incident.objects.get()
    key = incident.key
    [created] = smtp.to("ann@example.com")[1:]
    assert subject(created) == f"[Decentraland status] {key} Marketplace <down> & out — Investigating"
    root = header(created, "Message-ID")
    assert root
    assert created["In-Reply-To"] is None
    assert header(created, "List-Unsubscribe") == f"<http://testserver/subscriptions/unsubscribe/{ann.token}>"
    assert header(created, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert f"http://testserver/incidents/{key}" in text_of(created)
    html = html_of(created)
    assert "Marketplace &lt;down&gt; &amp; out" in html
    assert "<img" not in html
    assert "<link" not in html
    assert "style=" in html

    [first] = receiver.to("/hook")
    assert first.headers["x-crashbot-event"] == "incident.created"
    assert verify(hook.secret, first.headers, first.body)
    body = first.json()
    assert body["incident"]["id"] == key
    assert body["incident"]["status"] == "investigating"
    assert body["incident"]["incident_updates"][0]["status"] == "investigating"
    assert body["meta"]["unsubscribe"] == f"http://testserver/subscriptions/unsubscribe/{hook.token}"
    assert body["page"]["status_indicator"] == "major"
    [team_first] = receiver.to("/slack")
    message = team_first.json()
    section = message["blocks"][0]["text"]["text"]
    assert "Marketplace &lt;down&gt; &amp; out" in section
    assert "<down>" not in section
    assert "x-crashbot-signature" not in team_first.headers

    slack(client, f"{key} identified Rolled back the bad config")
    slack(client, f"{key} note the on-call phone number is 555-0100")  # internal note: nobody hears of it
    drain()
    [_, update] = smtp.to("ann@example.com")[1:]
    assert subject(update).endswith("— Identified")
    assert header(update, "In-Reply-To") == root
    assert header(update, "References") == root
    assert "Rolled back the bad config" in text_of(update)
    [_, second] = receiver.to("/hook")
    assert second.headers["x-crashbot-event"] == "incident.updated"
    assert verify(hook.secret, second.headers, second.body)
    assert second.headers["x-crashbot-delivery"] != first.headers["x-crashbot-delivery"]
    assert "555-0100" not in second.body.decode()
    assert len(receiver.to("/slack")) == 2

    slack(client, f"{key} resolved All good now")
    drain()
    [*_, resolved] = smtp.to("ann@example.com")
    assert subject(resolved).endswith("— Resolved")
    assert receiver.to("/hook")[-1].headers["x-crashbot-event"] == "incident.resolved"
    everything = b"".join(r.body for r in receiver.requests) + b"".join(m.as_bytes() for _, m in smtp.messages)
    assert b"555-0100" not in everything
    assert Delivery.objects.filter(state=DeliveryState.DELIVERED).count() == 9
    assert failed_tasks() == []


def test_one_click_unsubscribe_deletes_the_address_without_a_csrf_token(client, smtp):
    ann = subscribe_and_confirm(client, smtp, kind="email", email="ann@example.com")
    slack(client, "sev-3 Chat slow", name="create_incident_one_line")
    drain()
    mail = smtp.to("ann@example.com")[-1]
    url = header(mail, "List-Unsubscribe").strip("<>").removeprefix("http://testserver")
    from django.test import Client

    mail_client = Client(enforce_csrf_checks=True)
    response = mail_client.post(url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert not Subscriber.objects.filter(pk=ann.pk).exists()
    slack(client, "Incident DCL-0 placeholder", name="create_incident_one_line")
    drain()
    assert smtp.to("ann@example.com")[-1]["Message-ID"] == mail["Message-ID"]  # nothing new


def test_unsubscribe_form_without_one_click_needs_csrf(client, smtp):
    ann = subscribe_and_confirm(client, smtp, kind="email", email="ann@example.com")
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(f"/subscriptions/unsubscribe/{ann.token}", {})
    assert response.status_code == 403
    assert Subscriber.objects.filter(pk=ann.pk).exists()
    page = strict.get(f"/subscriptions/unsubscribe/{ann.token}")
    token = page.cookies["csrftoken"].value
    response = strict.post(f"/subscriptions/unsubscribe/{ann.token}", {"csrfmiddlewaretoken": token})
    assert response.status_code == 200
    assert not Subscriber.objects.filter(pk=ann.pk).exists()


def test_component_filter(client, smtp):
    market = make_component("Marketplace", slug="marketplace")
    chat = make_component("Chat", slug="chat")
    fan = subscribe_and_confirm(client, smtp, kind="email", email="market@example.com", components=[market.pk])
    everyone = subscribe_and_confirm(client, smtp, kind="email", email="all@example.com")
    assert list(fan.components.all()) == [market]
    make_incident("Chat is down", components=[chat])
    make_incident("Marketplace is down", components=[market])
    slack(client, "sev-3 Something odd somewhere", name="create_incident_one_line")  # no component: everyone
    drain()
    subjects = sorted(subject(m) for m in smtp.to("market@example.com")[1:])
    assert len(subjects) == 2
    assert "Chat" not in " ".join(subjects)
    assert len(smtp.to("all@example.com")) == 4
    assert chat.pk not in [c.pk for c in everyone.components.all()]


def test_internal_incident_and_notes_produce_nothing(client, smtp, receiver):
    subscribe_and_confirm(client, smtp, kind="email", email="ann@example.com")
    subscribe_and_confirm(client, smtp, kind="webhook", url=receiver.url("/hook"), contact_email="ops@acme.test")
    incident = make_incident("DNS resolver flapping", visibility=Visibility.INTERNAL)  # as staff create it in admin
    slack(client, f"{incident.key} identified Found the bad resolver")
    slack(client, f"{incident.key} note customer X affected")
    drain()
    assert len(smtp.to("ann@example.com")) == 1  # the confirmation only
    assert receiver.requests == []
    assert Delivery.objects.count() == 0
    services.incident_update(
        incident_id=incident.pk, author="staff:alice", source=Source.ADMIN, visibility=Visibility.PUBLIC
    )  # made public: now subscribers hear of it, once
    drain()
    assert len(smtp.to("ann@example.com")) == 2
    [request] = receiver.requests
    assert request.headers["x-crashbot-event"] == "incident.created"
    assert "customer X" not in request.body.decode()
    assert json.loads(request.body)["incident"]["id"] == incident.key
