"""Readers in a real browser: axe-core on every public page in light/dark × desktop/phone, keyboard use.

Screenshots of each combination land in test-artifacts/ (`a11y-<page>-<scheme>-<layout>.png`).
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import services
from incidents.models import ComponentStatus, Severity, Source, Status, Visibility
from incidents.tests.browser import DESKTOP, PHONE, assert_axe_clean, open_page, screenshot, skip_without_chromium
from incidents.tests.factories import make_component, make_incident

pytestmark = [*skip_without_chromium, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page_data():
    """Every status colour on screen: open minor, major and sev-5 incidents, maintenance, history."""
    catalyst = make_component("Catalyst", group="Platform", position=1, description="Content servers")
    market = make_component("Marketplace", group="Platform", position=2)
    chat = make_component("Chat", position=3)
    make_component("Builder", position=4, status_override=ComponentStatus.UNDER_MAINTENANCE)
    now = timezone.now()
    old = make_incident("Marketplace outage", severity=Severity.SEV1, components=[market],
                        reported_at=now - timedelta(days=3, hours=2))  # fmt: skip
    services.incident_resolve(incident_id=old.pk, author="U0A", source=Source.SLACK, message="Recovered.",
                              closed_at=now - timedelta(days=3))  # fmt: skip
    make_incident("Chat is slow", severity=Severity.SEV3, components=[chat], reported_at=now - timedelta(minutes=20))
    make_incident("Typo on the landing page", severity=Severity.SEV5, reported_at=now - timedelta(minutes=5))
    major = make_incident("Catalyst nodes are not syncing", severity=Severity.SEV2, components=[catalyst],
                          reported_at=now - timedelta(hours=1), description="Scenes fail to load.")  # fmt: skip
    services.incident_update(incident_id=major.pk, author="U0A", source=Source.SLACK, status=Status.IDENTIFIED,
                             message="A bad configuration push; rolling back.")  # fmt: skip
    make_incident("Secret", visibility=Visibility.INTERNAL)
    return major


SCHEMES = ["light", "dark"]
LAYOUTS = {"desktop": DESKTOP, "phone": PHONE}


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_public_pages_have_no_serious_axe_violations(browser, live_server, page_data, scheme, layout):
    pages = {
        "index": "/",
        "history": "/history",
        "incident": page_data.get_absolute_url(),
        "404": "/incidents/DCL-99999",
    }
    for name, path in pages.items():
        page = open_page(browser, live_server.url + path, color_scheme=scheme, **LAYOUTS[layout])
        assert page.locator("main").count() == 1, name
        assert_axe_clean(page)
        screenshot(page, f"a11y-{name}-{scheme}-{layout}.png")
        assert page.errors == [], (name, page.errors)
        page.context.close()


def test_times_are_absolute_with_their_zone_and_relative_beside(browser, live_server, page_data):
    page = open_page(browser, live_server.url + page_data.get_absolute_url())
    started = page.locator(".facts dd").first.inner_text()
    assert "UTC" in started
    assert "ago" in started
    assert "Times are shown in UTC" in page.inner_text("footer")


def test_day_bars_are_reachable_by_keyboard_and_show_their_details(browser, live_server, page_data):
    page = open_page(browser, live_server.url + "/")
    strip = page.locator("[data-component] .uptime").first
    today = strip.locator('.bar[tabindex="0"]')
    assert today.count() == 1
    today.focus()
    today_tip = today.get_attribute("data-tip")
    detail = page.locator("[data-bar-detail]").first
    assert "Catalyst" not in detail.inner_text()  # the label says the day, not the name again
    assert detail.inner_text().strip()
    page.keyboard.press("ArrowLeft")
    focused = page.evaluate("document.activeElement.getAttribute('data-tip')")
    assert focused
    assert focused != today_tip
    assert "uptime (90 days)" in page.locator(".uptime-figure").first.inner_text()
    screenshot(page, "uptime-bar-focused.png")


def test_phones_show_30_days_and_groups_collapse(browser, live_server, page_data):
    page = open_page(browser, live_server.url + "/", **PHONE)
    visible = page.evaluate(
        "Array.from(document.querySelector('.uptime').children).filter(b => b.offsetParent !== null).length"
    )
    assert visible == 30
    assert "(30 days)" in page.locator(".uptime-figure").first.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    group = page.locator("details.group").first
    assert group.get_attribute("open") is not None
    group.locator("summary").click()
    assert group.get_attribute("open") is None
    screenshot(page, "status-index-phone-collapsed.png")


def test_skip_link_nav_and_header_dot(browser, live_server, page_data):
    page = open_page(browser, live_server.url + "/history")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    assert page.locator('nav a[aria-current="page"]').inner_text() == "History"
    assert page.locator(".brand-dot.indicator-dot-major").count() == 1
    assert page.locator('link[rel="icon"]').count() == 1


def test_past_incidents_by_day(browser, live_server, page_data):
    page = open_page(browser, live_server.url + "/")
    days = page.locator(".past-day")
    assert days.count() == 7
    assert "No incidents reported" in page.locator("#past-title ~ .past-day").nth(1).inner_text()
    assert "Marketplace outage" in days.nth(3).inner_text()


def test_refresh_announces_changes_politely(browser, live_server, page_data, settings):
    settings.STATUS_PAGE_REFRESH_SECONDS = 1
    page = open_page(browser, live_server.url + "/")
    assert page.locator('[aria-live="polite"]').count() == 1
    services.incident_resolve(incident_id=page_data.pk, author="U0A", source=Source.SLACK, message="All clear.")
    page.locator("#live-status", has_text="Updated").wait_for(state="attached", timeout=10_000)
