"""The status page in a real browser (Playwright driving Debian's /usr/bin/chromium).

Skipped with a reason when Chromium is not installed; `.ci/run` installs it. Screenshots
of every page land in test-artifacts/ (git-ignored) for people to look at.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import services
from incidents.models import ComponentStatus, Severity, Source, Status
from incidents.tests.browser import open_page, screenshot, skip_without_chromium
from incidents.tests.factories import make_component, make_incident

pytestmark = [*skip_without_chromium, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _close_pages(request):
    """Close each test's pages: a page left open keeps refreshing itself against the live server
    and can hold the in-memory SQLite database while the next test writes its data."""
    yield
    if "browser" in request.fixturenames:
        for context in request.getfixturevalue("browser").contexts:
            context.close()


@pytest.fixture
def fast_refresh(settings):
    settings.STATUS_PAGE_REFRESH_SECONDS = 1


@pytest.fixture
def outage():
    """A realistic page: grouped components, history over the last weeks, one open major incident."""
    services.person_set_display_name(slack_id="U0POINT", display_name="Ada Lovelace")
    catalyst = make_component("Catalyst", group="Platform", position=1, description="Content servers")
    market = make_component("Marketplace", group="Platform", position=2)
    chat = make_component("Chat", position=3, description="Voice and text chat")
    make_component("Builder", position=4, status_override=ComponentStatus.UNDER_MAINTENANCE)
    now = timezone.now()
    for days, component, severity in (
        (40, market, Severity.SEV1),
        (12, chat, Severity.SEV3),
        (3, catalyst, Severity.SEV4),
    ):
        old = make_incident(
            f"Past trouble on {component.name}", severity=severity, components=[component],
            reported_at=now - timedelta(days=days, hours=3),
        )  # fmt: skip
        services.incident_resolve(
            incident_id=old.pk, author="U0POINT", source=Source.SLACK, message="Back to normal.",
            closed_at=now - timedelta(days=days, hours=1),
        )  # fmt: skip
    incident = make_incident(
        "Catalyst nodes are not syncing",
        severity=Severity.SEV2,
        components=[catalyst],
        point="U0POINT",
        description="Scenes fail to load for **some users**. See [the forum](https://forum.example.com).",
        reported_at=now - timedelta(minutes=50),
    )
    services.incident_update(
        incident_id=incident.pk, author="U0POINT", source=Source.SLACK, status=Status.IDENTIFIED,
        message="A bad configuration push; rolling back.",
    )  # fmt: skip
    return incident


def test_page_shows_the_banner_and_the_open_incident(browser, live_server, outage):
    page = open_page(browser, live_server.url + "/")
    assert page.locator("#banner-title").inner_text() == "Partial System Outage"
    card = page.locator(f'[data-incident="{outage.key}"]').first  # also listed under today's past incidents
    assert "Catalyst nodes are not syncing" in card.inner_text()
    assert "A bad configuration push" in card.inner_text()
    assert page.locator(".uptime").count() == 4
    first_time = page.locator("time").first.inner_text()
    assert first_time.endswith("UTC"), first_time
    assert "ago" in page.locator("[data-ago]").first.inner_text()
    screenshot(page, "status-index.png")
    assert page.errors == []


def test_page_shows_an_update_without_a_reload(browser, live_server, outage, fast_refresh):
    page = open_page(browser, live_server.url + "/")
    page.evaluate("window.__notReloaded = true")
    services.incident_update(
        incident_id=outage.pk, author="U0POINT", source=Source.SLACK, status=Status.MONITORING,
        message="Rollback done, watching sync rates.",
    )  # fmt: skip
    page.get_by_text("Rollback done, watching sync rates.").wait_for(timeout=10_000)
    assert page.evaluate("window.__notReloaded") is True
    services.incident_resolve(incident_id=outage.pk, author="U0POINT", source=Source.SLACK, message="All clear.")
    page.locator("#banner-title", has_text="Service Under Maintenance").wait_for(timeout=10_000)
    assert page.evaluate("window.__notReloaded") is True
    assert page.errors == []


def test_unchanged_data_is_revalidated_with_304(browser, live_server, outage, fast_refresh):
    page = open_page(browser, live_server.url + "/")
    statuses: list[int] = []
    url = live_server.url + "/"
    page.on("response", lambda response: statuses.append(response.status) if response.url == url else None)
    page.wait_for_timeout(3500)
    assert len(statuses) >= 2, "the page did not poll"
    # The first refresh learns the ETag (the page does not carry it); the next ones revalidate.
    assert statuses[0] == 200
    assert set(statuses[1:]) == {304}


def test_dark_mode_renders(browser, live_server, outage):
    page = open_page(browser, live_server.url + "/", color_scheme="dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    red, green, blue = (int(v) for v in background.removeprefix("rgb(").rstrip(")").split(","))
    assert max(red, green, blue) < 60, background
    text = page.evaluate("getComputedStyle(document.body).color")
    assert min(int(v) for v in text.removeprefix("rgb(").rstrip(")").split(",")) > 180, text
    screenshot(page, "status-index-dark.png")


def test_phone_history_and_incident_pages(browser, live_server, outage):
    phone = open_page(browser, live_server.url + "/", width=390, height=844)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "status-index-phone.png")
    history = open_page(browser, live_server.url + "/history")
    assert history.locator(".month h2").count() >= 2
    screenshot(history, "status-history.png")
    detail = open_page(browser, live_server.url + outage.get_absolute_url())
    assert "Ada Lovelace" not in detail.inner_text("body")  # pages never name people
    assert detail.locator(".timeline li").count() == 2
    screenshot(detail, "status-incident.png")
    dark_detail = open_page(browser, live_server.url + outage.get_absolute_url(), color_scheme="dark")
    screenshot(dark_detail, "status-incident-dark.png")
