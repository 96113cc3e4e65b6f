"""Reusable browser-test helpers: Playwright driving Debian's /usr/bin/chromium, screenshots, axe-core.

Any app's browser test can use them (the `browser` fixture is registered by the root conftest):

    from incidents.tests.browser import assert_axe_clean, open_page, screenshot, skip_without_chromium

    pytestmark = [*skip_without_chromium, pytest.mark.django_db(transaction=True)]

    def test_subscribe_page(browser, live_server):
        page = open_page(browser, live_server.url + "/subscribe", color_scheme="dark", width=390)
        assert_axe_clean(page)
        screenshot(page, "subscribe-dark-phone.png")

axe-core comes with axe-playwright-python (no network); `assert_axe_clean` fails on any
violation of serious or critical impact and names each one with the offending elements.
"""

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Width × height of the layouts every public page is checked in.
DESKTOP = {"width": 1100, "height": 900}
PHONE = {"width": 390, "height": 844}

skip_without_chromium = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
]


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module.

    Playwright's sync API keeps an event loop running in this thread, which Django takes
    for an async context; the ORM calls in tests are plain synchronous code, so allow them.
    """
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def open_page(browser, url: str, *, color_scheme: str = "light", width: int = 1100, height: int = 900):
    """A fresh context at that size and colour scheme; `page.errors` collects script errors."""
    context = browser.new_context(color_scheme=color_scheme, viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.errors = errors
    return page


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def axe_violations(page, *, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [v for v in results.response["violations"] if v.get("impact") in impacts]


def assert_axe_clean(page, *, impacts: tuple[str, ...] = ("serious", "critical")) -> None:
    """No axe-core violation of these impacts on the page as it is now."""
    violations = axe_violations(page, impacts=impacts)
    report = [
        f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(n["target"][0] for n in v["nodes"][:5])
        for v in violations
    ]
    assert not violations, f"{page.url}:\n" + "\n".join(report)
