"""A component that monitoring detected down, on the real page in Chromium: light, dark and phone widths.

Screenshots land in test-artifacts/monitoring-*.png. Skipped with a reason without /usr/bin/chromium.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.tests.browser import CHROMIUM, browser, open_page, screenshot  # noqa: F401 - the browser fixture
from incidents.tests.factories import make_component
from monitoring import services
from monitoring.models import Probe
from monitoring.tests.targets import TargetServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def detected_down(settings):
    """Marketplace down by its probe (three real 503s), a day of history rolled up; Catalyst healthy."""
    settings.PROBES_ALLOW_PRIVATE_URLS = True
    settings.PROBE_AUTO_INCIDENT = False
    make_component("Catalyst", group="Platform", position=1, description="Content servers")
    market = make_component("Marketplace", slug="marketplace", group="Platform", position=2)
    make_component("Chat", position=3)
    with TargetServer() as target:
        target.set("/health", "fail", 503)
        services.probe_save(probe=Probe(component=market, url=target.url("/health")))
        start = timezone.now() - timedelta(minutes=10)
        Probe.objects.update(next_due_at=start)  # as if it had been running for a while
        for n in range(4):
            services.run_due_probes(now=start + timedelta(seconds=60 * (n + 1)))
    services.rollup_and_prune()
    return market


@pytest.mark.parametrize(
    ("scheme", "width", "name"),
    [
        ("light", 1100, "monitoring-index.png"),
        ("dark", 1100, "monitoring-index-dark.png"),
        ("light", 390, "monitoring-index-phone.png"),
    ],
)
def test_detected_down_component_on_the_page(browser, live_server, detected_down, scheme, width, name):  # noqa: F811
    page = open_page(browser, live_server.url + "/", color_scheme=scheme, width=width, height=900)
    row = page.locator('li[data-component="marketplace"]')
    assert "Major outage" in row.inner_text()
    assert "detected by monitoring" in row.inner_text()
    figure = row.locator(".uptime-figure").inner_text()  # "99.12% uptime (90 days)"; 30 days on phones
    assert "% uptime (" in figure
    assert float(figure.split("%")[0]) < 100.0
    assert page.locator("h1").inner_text() == "Major System Outage"
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.errors == []
    screenshot(page, name)
    page.context.close()
