"""Scheduled maintenance on the status page in a real browser: light, dark and phone, with axe (SPEC §8).

Uses the Chromium fixture of test_browser.py; screenshots land in test-artifacts/.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import services
from incidents.models import Source, Status
from incidents.tests.browser import CHROMIUM, open_page, screenshot
from incidents.tests.factories import make_component

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
    pytest.mark.django_db(transaction=True),
]
# The maintenance sections and cards this feature adds; the rest of the page is checked by test_browser.py.
MAINTENANCE_PARTS = ["[aria-labelledby^='maintenance-']", ".maintenance", ".facts"]


@pytest.fixture
def maintenances():
    catalyst = make_component("Catalyst", group="Platform", position=1, description="Content servers")
    make_component("Marketplace", group="Platform", position=2)
    builder = make_component("Builder", position=3)
    now = timezone.now()
    kw = {"author": "U0OPS", "source": Source.SLACK}
    upcoming = services.maintenance_schedule(
        title="Builder storage migration",
        description="Saving scenes pauses for **about an hour**.",
        scheduled_for=now + timedelta(days=2, hours=1),
        scheduled_until=now + timedelta(days=2, hours=2),
        components=[builder],
        **kw,
    )
    running = services.maintenance_schedule(
        title="Catalyst upgrade to v6",
        description="Content servers restart one by one.",
        scheduled_for=now,
        scheduled_until=now + timedelta(hours=2),
        components=[catalyst],
        **kw,
    )
    services.maintenance_transition(
        incident_id=running.pk, status=Status.IN_PROGRESS, message="Two of five nodes done.", **kw
    )
    return {"upcoming": upcoming, "running": running}


def axe_violations(page) -> list[dict]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, context={"include": [[s] for s in MAINTENANCE_PARTS if page.locator(s).count()]})
    return [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize(
    ("scheme", "width"),
    [("light", 1100), ("dark", 1100), ("light", 390), ("dark", 390)],
)
def test_upcoming_and_in_progress_maintenance_on_the_page(browser, live_server, maintenances, scheme, width):  # noqa: F811
    page = open_page(browser, live_server.url + "/", color_scheme=scheme, width=width)
    assert page.locator("#banner-title").inner_text() == "Service Under Maintenance"
    active = page.locator("section[aria-labelledby='maintenance-active-title']")
    upcoming = page.locator("section[aria-labelledby='maintenance-upcoming-title']")
    assert "Catalyst upgrade to v6" in active.inner_text()
    assert "Two of five nodes done." in active.inner_text()
    assert "Builder storage migration" in upcoming.inner_text()
    start = timezone.localtime(maintenances["upcoming"].scheduled_for)
    window = upcoming.locator(".window").inner_text()
    assert start.strftime("%b %-d, %Y %H:%M") in window  # absolute, and it stays absolute after the script ran
    assert "UTC" in window
    # In progress comes above the components; the affected component says so.
    boxes = [page.locator(s).bounding_box()["y"] for s in ("#maintenance-active-title", "#components-title")]
    assert boxes[0] < boxes[1]
    catalyst = page.locator('[data-component="component-1"], .component', has_text="Catalyst").first
    assert "Under maintenance" in catalyst.inner_text()
    # One pill in each maintenance section (today's past incidents may list the active one as well).
    assert (
        active.locator(".pill.impact-maintenance").count() + upcoming.locator(".pill.impact-maintenance").count() == 2
    )
    width_px = page.evaluate("document.documentElement.scrollWidth")
    assert width_px <= width, "no horizontal scrolling"
    screenshot(page, f"maintenance-index-{scheme}-{width}.png")
    assert axe_violations(page) == []
    assert page.errors == []


def test_maintenance_page_shows_its_window_and_timeline(browser, live_server, maintenances):  # noqa: F811
    running = maintenances["running"]
    for scheme, width in (("light", 1100), ("dark", 390)):
        page = open_page(browser, live_server.url + running.get_absolute_url(), color_scheme=scheme, width=width)
        facts = page.locator(".facts").inner_text()
        assert "scheduled" in facts.lower()
        assert "started" in facts.lower()
        assert "UTC" in facts
        assert "point person" not in facts.lower()
        assert "In progress" in page.locator(".timeline").inner_text()
        screenshot(page, f"maintenance-page-{scheme}-{width}.png")
        assert axe_violations(page) == []
        assert page.errors == []
