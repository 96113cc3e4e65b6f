"""The back office in a real browser (Playwright driving Debian's /usr/bin/chromium), with screenshots.

List, change page and timeline, a refused concurrent edit, and a throttled login; light, dark
and phone widths land in test-artifacts/admin-*.png.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from incidents import services
from incidents.models import Severity, Source, Status, Visibility
from incidents.tests.browser import CHROMIUM, screenshot
from incidents.tests.factories import make_component, make_incident

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("alice", "alice@example.com", "correct horse")


@pytest.fixture
def incidents_seen():
    """A week of incidents as staff see them: people with names, components, a timeline."""
    services.person_set_display_name(slack_id="U0ADA", display_name="Ada Lovelace")
    services.person_set_display_name(slack_id="U0BOB", display_name="Bob Marley")
    realm = make_component("Realm")
    market = make_component("Marketplace")
    catalyst = make_component("Catalyst content servers")
    now = timezone.now()
    open_one = make_incident(
        "Marketplace purchases fail with a timeout after checkout for some wallets",
        severity=Severity.SEV1,
        point="U0ADA",
        components=[market, catalyst],
        reported_at=now - timedelta(hours=2),
    )
    services.incident_update(
        incident_id=open_one.pk, author="U0ADA", source=Source.SLACK, status=Status.IDENTIFIED, message="DB pool full"
    )
    services.incident_add_note(incident_id=open_one.pk, author="U0BOB", source=Source.SLACK, message="Paged the DBA")
    services.incident_update(
        incident_id=open_one.pk, author="staff:alice", source=Source.ADMIN, status=Status.MONITORING, severity="sev-2"
    )
    for n, sev in enumerate(["sev-3", "sev-4", "sev-5"]):
        make_incident(f"Realm {n} slow to load", severity=sev, point="U0BOB", components=[realm])
    closed = make_incident("Login loop", severity=Severity.SEV2, reported_at=now - timedelta(days=3))
    services.incident_resolve(incident_id=closed.pk, author="U0BOB", source=Source.SLACK, message="Fixed by restart")
    make_incident("Internal only", visibility=Visibility.INTERNAL, severity=Severity.SEV4)
    return open_one


def new_page(browser, *, width=1280, height=900, color_scheme="light"):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=color_scheme)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return page


def log_in(page, base_url: str, password: str = "correct horse") -> None:  # noqa: S107
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", password)
    page.click("input[type=submit]")


@pytest.mark.parametrize(("color_scheme", "width"), [("light", 1280), ("dark", 1280), ("light", 390)])
def test_incident_list_reads_at_a_glance(browser, live_server, staff, incidents_seen, color_scheme, width):  # noqa: F811
    page = new_page(browser, width=width, color_scheme=color_scheme)
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/incidents/incident/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 5  # the default "Open" filter: the resolved one is not listed
    text = page.locator("#result_list").inner_text()
    assert "SEV-2" in text
    assert "Ada Lovelace" in text
    assert "UTC" in text
    assert "Marketplace, Catalyst content servers" in text or "Catalyst content servers, Marketplace" in text
    badge = page.locator("#result_list .cb-badge[title]").first
    assert badge.get_attribute("title")  # the severity label as a tooltip
    if width == 1280:
        heights = rows.evaluate_all("rows => rows.map(r => r.getBoundingClientRect().height)")
        assert max(heights) < 45, heights  # no wrapped rows
        overflow = page.evaluate("(e => e.scrollWidth - e.clientWidth)(document.querySelector('#changelist .results'))")
        assert overflow <= 0  # no column scrolled out of sight
        assert page.locator("#result_list th.column-duration_display").is_visible()
    screenshot(page, f"admin-list-{color_scheme}-{width}.png")
    page.goto(f"{live_server.url}/admin/incidents/incident/?state=all")
    assert page.locator("#result_list tbody tr").count() == 6
    page.fill("#searchbar", f"DCL-{incidents_seen.pk}")
    page.press("#searchbar", "Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)  # waits for the search results page
    assert page.errors == []
    page.context.close()


def test_change_page_and_timeline_tell_the_story(browser, live_server, staff, incidents_seen):  # noqa: F811
    page = new_page(browser, height=1400)
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/incidents/incident/{incidents_seen.pk}/change/")
    headings = page.locator("fieldset h2").all_inner_texts()
    assert [h.strip().lower() for h in headings[:5]] == ["what", "impact", "people", "lifecycle", "public text"]
    assert page.input_value("#id_point") == "Ada Lovelace (U0ADA)"
    timeline = page.locator(".cb-timeline").inner_text()
    assert "Ada Lovelace (Slack) · investigating → identified · “DB pool full”" in timeline
    assert "alice (Admin) · identified → monitoring · severity: SEV-1 → SEV-2" in timeline
    assert "Bob Marley (Slack) · “Paged the DBA”" in timeline
    assert "internal" in timeline
    assert "{" not in timeline  # no raw JSON
    assert "{#" not in page.locator("#content").inner_text()  # no template text leaking
    assert f"{incidents_seen.pk}#" not in timeline  # no "1#7" captions
    screenshot(page, "admin-change-and-timeline.png")
    assert page.errors == []
    page.context.close()


def test_a_stale_form_is_refused_with_what_changed(browser, live_server, staff, incidents_seen):  # noqa: F811
    incident = make_incident("Chat is dwon", point="U0ADA")
    page = new_page(browser, height=1400)
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/incidents/incident/{incident.pk}/change/")
    # Meanwhile, in Slack:
    services.incident_resolve(incident_id=incident.pk, author="U0BOB", source=Source.SLACK, message="Fixed by restart")
    page.fill("#id_title", "Chat is down")
    page.click("input[name=_save]")
    error = page.locator(".errornote, .errorlist.nonfield").first
    error.wait_for()
    body = page.locator("#content").inner_text()
    assert "changed by someone else" in body
    assert "Bob Marley (Slack) · investigating → resolved" in body
    assert page.input_value("#id_title") == "Chat is down"
    assert page.input_value("#id_status") == "resolved"
    screenshot(page, "admin-concurrent-edit-refused.png")
    incident.refresh_from_db()
    assert (incident.title, incident.status) == ("Chat is dwon", Status.RESOLVED)
    page.click("input[name=_save]")  # saved again: the title fix lands on top of the resolution
    page.wait_for_url("**/admin/incidents/incident/")
    incident.refresh_from_db()
    assert (incident.title, incident.status) == ("Chat is down", Status.RESOLVED)
    page.context.close()


def test_repeated_wrong_passwords_are_throttled(browser, live_server, staff, settings):  # noqa: F811
    settings.AXES_FAILURE_LIMIT = 5
    page = new_page(browser)
    for n in range(4):
        log_in(page, live_server.url, password=f"guess {n}")
        assert "Please enter the correct username and password" in page.content()
    log_in(page, live_server.url, password="guess 5")
    assert "Too many failed sign-in attempts" in page.content()
    log_in(page, live_server.url)  # the right password no longer helps
    assert "Too many failed sign-in attempts" in page.content()
    screenshot(page, "admin-login-throttled.png")
    page.context.close()
