"""The subscribe flow in a real browser (Chromium), light, dark and phone, checked with axe-core.

Screenshots land in test-artifacts/ (git-ignored). Skipped with a reason without /usr/bin/chromium.
"""

import pytest

from incidents.tests.browser import CHROMIUM, browser, open_page, screenshot  # noqa: F401 - browser is a fixture
from incidents.tests.factories import make_component
from subscriptions.models import Subscriber
from subscriptions.tests.util import link, run_worker

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
    pytest.mark.django_db(transaction=True),
]


def serious_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def live(live_server, settings, smtp):
    settings.PUBLIC_BASE_URL = live_server.url
    make_component("Catalyst", slug="catalyst", group="Platform")
    make_component("Marketplace", slug="marketplace", group="Platform")
    make_component("Chat", slug="chat")
    return live_server


def confirm_path(smtp, address: str) -> str:
    run_worker()
    return link(smtp.to(address)[-1], "confirm").replace("http://testserver", "")


def test_subscribe_by_email_light(browser, live, smtp):  # noqa: F811
    page = open_page(browser, live.url + "/")
    page.get_by_role("link", name="Subscribe").click()
    page.wait_for_url("**/subscribe")
    assert serious_violations(page) == []
    screenshot(page, "subscribe.png")
    page.get_by_label("Email address").fill("ann@example.com")
    page.get_by_label("Catalyst").check()
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url("**/subscribe/check-your-inbox")
    assert "Check your inbox" in page.inner_text("h1")
    assert serious_violations(page) == []
    [mail] = [m for _, m in smtp.messages] or [None]
    assert mail is None  # the worker sends it, not the request
    run_worker()
    confirm = link(smtp.to("ann@example.com")[0], "confirm")
    page.goto(live.url + confirm)
    assert serious_violations(page) == []
    screenshot(page, "subscribe-confirm.png")
    page.get_by_role("button", name="Confirm subscription").click()
    page.get_by_text("You are subscribed").wait_for()
    assert "Catalyst" in page.inner_text("main")
    assert serious_violations(page) == []
    assert Subscriber.objects.get().confirmed
    assert page.errors == []


def test_subscribe_form_errors_and_webhook_kind_dark(browser, live, smtp, settings):  # noqa: F811
    settings.SUBSCRIPTIONS_ALLOW_PRIVATE_URLS = True
    page = open_page(browser, live.url + "/subscribe", color_scheme="dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert max(int(v) for v in background.removeprefix("rgb(").rstrip(")").split(",")) < 60, background
    assert not page.get_by_label("Webhook or Slack incoming-webhook URL").is_visible()
    page.get_by_role("radio", name="Webhook").check()
    assert page.get_by_label("Webhook or Slack incoming-webhook URL").is_visible()
    assert not page.get_by_label("Email address").is_visible()
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_text("Enter the URL to call.").wait_for()
    assert serious_violations(page) == []
    screenshot(page, "subscribe-errors-dark.png")
    page.get_by_label("Webhook or Slack incoming-webhook URL").fill(live.url + "/hook-target")
    page.get_by_label("Contact email", exact=False).fill("ops@example.com")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url("**/check-your-inbox")
    page.goto(live.url + confirm_path(smtp, "ops@example.com"))
    page.get_by_role("button", name="Confirm subscription").click()
    secret = Subscriber.objects.get().secret
    assert page.inner_text("#signing-secret") == secret
    assert serious_violations(page) == []
    screenshot(page, "subscribe-secret-dark.png")


def test_manage_and_unsubscribe_on_a_phone(browser, live, smtp):  # noqa: F811
    page = open_page(browser, live.url + "/subscribe", width=390, height=844)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "subscribe-phone.png")
    page.get_by_label("Email address").fill("ann@example.com")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url("**/check-your-inbox")
    page.goto(live.url + confirm_path(smtp, "ann@example.com"))
    page.get_by_role("button", name="Confirm subscription").click()
    page.get_by_role("link", name="Manage this subscription").click()
    page.get_by_label("Chat").check()
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved.").wait_for()
    assert [c.slug for c in Subscriber.objects.get().components.all()] == ["chat"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert serious_violations(page) == []
    screenshot(page, "subscribe-manage-phone.png")
    page.get_by_role("link", name="Unsubscribe").last.click()
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_text("You are unsubscribed").wait_for()
    assert serious_violations(page) == []
    assert not Subscriber.objects.exists()
    assert page.errors == []
