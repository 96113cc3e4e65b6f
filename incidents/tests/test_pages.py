"""The public status page: banner, components, incidents, history, detail, sanitised Markdown."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.core.cache import caches
from django.utils import timezone

from incidents import services
from incidents.models import ComponentStatus, Severity, Source, Status, Visibility
from incidents.tests.factories import make_component, make_incident

pytestmark = pytest.mark.django_db

XSS_TITLE = "<script>alert('title')</script><img src=x onerror=alert(1)>"
XSS_DESCRIPTION = (
    "Broken <script>alert('desc')</script> and <img src=x onerror=alert(2)> "
    '[click me](javascript:alert(3)) <a href="JaVaScRiPt:alert(4)">raw</a> '
    "[ok link](https://example.com/status) **bold**"
)


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    assert response["Content-Type"].startswith("text/html")
    return response.content.decode()


def test_all_operational_page(client):
    make_component("Catalyst")
    html = page(client, "/")
    assert "All Systems Operational" in html
    assert "indicator-none" in html
    assert "No open incidents" in html
    assert "Catalyst" in html


def test_banner_shows_the_worst_open_impact_and_open_incidents_with_their_latest_update(client):
    catalyst = make_component("Catalyst", group="Platform")
    make_incident("Slow chat", severity=Severity.SEV4)
    big = make_incident("Catalyst down", severity=Severity.SEV1, components=[catalyst])
    services.incident_update(
        incident_id=big.pk, author="U0X", source=Source.SLACK, status=Status.IDENTIFIED, message="Bad *deploy*"
    )
    html = page(client, "/")
    assert "Major System Outage" in html
    assert "indicator-critical" in html
    assert "2 open incidents" in html
    assert html.index("Catalyst down") < html.index("Slow chat")
    assert "Bad <em>deploy</em>" in html
    assert 'class="status-text status-major_outage"' in html
    assert "Platform" in html


def test_components_get_a_90_day_strip_from_history(client):
    catalyst = make_component("Catalyst")
    make_component("Quiet")
    now = timezone.now()
    make_incident(
        "Past outage",
        severity=Severity.SEV2,
        status=Status.RESOLVED,
        components=[catalyst],
        reported_at=now - timedelta(days=10),
        closed_at=now - timedelta(days=9),
    )
    make_incident("Too old", status=Status.RESOLVED, components=[catalyst], reported_at=now - timedelta(days=200),
                  closed_at=now - timedelta(days=199))  # fmt: skip
    html = page(client, "/")
    strips = re.findall(r'<div class="uptime".*?</div>', html, re.S)
    assert len(strips) == 2
    catalyst_bars = re.findall(r'class="bar status-([a-z_]+)"', strips[0])
    assert len(catalyst_bars) == 90
    # reported 10 days ago, closed 9 days ago: two calendar days (or three across midnight UTC) are partial.
    assert 2 <= catalyst_bars.count("partial_outage") <= 3
    assert catalyst_bars[-1] == "operational"
    assert set(re.findall(r'class="bar status-([a-z_]+)"', strips[1])) == {"operational"}


def test_maintenance_override_shows(client):
    make_component("Builder", status_override=ComponentStatus.UNDER_MAINTENANCE)
    html = page(client, "/")
    assert "Service Under Maintenance" in html
    assert "Under maintenance" in html


def test_history_is_grouped_by_month_newest_first_and_paged(client, monkeypatch):
    now = timezone.now()
    make_incident("Recent", status=Status.RESOLVED, reported_at=now - timedelta(days=1))
    make_incident("Older", status=Status.RESOLVED, reported_at=now - timedelta(days=70))
    make_incident("Hidden", status=Status.RESOLVED, visibility=Visibility.INTERNAL)
    html = page(client, "/history")
    months = re.findall(r'<h2 id="month-\d+">([^<]+)</h2>', html)
    assert len(months) >= 2
    assert months[0] == (now - timedelta(days=1)).strftime("%B %Y")
    assert html.index("Recent") < html.index("Older")
    assert "Hidden" not in html
    monkeypatch.setattr("incidents.views.STATUS_HISTORY_PAGE", 1)
    # A code constant changed under a running process: drop the bodies rendered with the old one
    # (a deploy starts new processes, and REPRESENTATION_VERSION covers shared caches).
    caches["public"].clear()
    first = page(client, "/history")
    assert "Older →" in first
    second = page(client, "/history?page=2")
    assert "Older" in second
    assert "Recent" not in second
    assert page(client, "/history?page=nonsense")  # falls back to page 1
    assert "Recent" not in page(client, "/history?page=" + "9" * 40)  # clamped, not a 500


def test_incident_page_has_the_public_timeline_durations_people_and_rca(client):
    services.person_set_display_name(slack_id="U0POINT", display_name="Ada Point")
    incident = make_incident("Catalyst down", point="U0POINT", contact_name="Bob (imported)",
                             reported_at=timezone.now() - timedelta(hours=3))  # fmt: skip
    services.incident_update(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="Looking")
    services.incident_add_note(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="psst internal")
    services.incident_resolve(
        incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="All good",
        rca_link="https://example.com/rca",
    )  # fmt: skip
    html = page(client, f"/incidents/{incident.key}")
    assert "Catalyst down" in html
    # Public pages never name people (SPEC §4): /list keeps them for the legacy contract.
    assert "Ada Point" not in html
    assert "Bob (imported)" not in html
    assert "Point person" not in html
    assert "U0POINT" not in html
    assert "psst internal" not in html
    assert html.index("All good") < html.index("Looking")
    assert 'href="https://example.com/rca" rel="noopener nofollow"' in html
    assert "Duration" in html
    assert "3 h" in html
    # Public numbering: the internal note (row 3) leaves no gap; the resolution is public entry 3.
    assert 'id="update-3"' in html
    assert 'id="update-4"' not in html
    assert html.count("<time ") >= 4


def test_unknown_internal_and_invalid_incidents_are_404_or_410(client):
    internal = make_incident("Internal", visibility=Visibility.INTERNAL)
    invalid = make_incident("Invalid")
    services.incident_mark_invalid(incident_id=invalid.pk, author="U0X", source=Source.SLACK)
    for key in (internal.key, "DCL-99999", "XYZ-1", "nonsense"):
        assert client.get(f"/incidents/{key}").status_code == 404, key
    assert client.get(f"/incidents/{invalid.key}").status_code == 410  # it was public: withdrawn


def test_xss_in_title_description_and_messages_renders_inert(client):
    component = make_component("Catalyst")
    incident = make_incident(XSS_TITLE, description=XSS_DESCRIPTION, components=[component])
    services.incident_update(incident_id=incident.pk, author="U0X", source=Source.SLACK, message=XSS_DESCRIPTION)
    for path in ("/", "/history", f"/incidents/{incident.key}"):
        html = page(client, path)
        assert "<script>alert" not in html, path
        assert re.search(r"<img[^>]*onerror", html) is None, path
        assert "javascript:" not in html.lower(), path
        assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt;" in html, path  # the title, escaped
    detail = page(client, f"/incidents/{incident.key}")
    assert '<a href="https://example.com/status" rel="noopener nofollow">ok link</a>' in detail
    assert "<strong>bold</strong>" in detail


def test_pages_never_show_internal_incidents_notes_or_slack_ids(client):
    component = make_component("Catalyst")
    make_incident("Secret outage", visibility=Visibility.INTERNAL, components=[component], severity=Severity.SEV1)
    shown = make_incident("Public outage", point="U0SECRET", contact="U0HIDDEN", components=[component])
    services.incident_add_note(incident_id=shown.pk, author="U0SECRET", source=Source.SLACK, message="internal only")
    for path in ("/", "/history", f"/incidents/{shown.key}"):
        html = page(client, path)
        for secret in ("Secret outage", "internal only", "U0SECRET", "U0HIDDEN"):
            assert secret not in html, (path, secret)
    assert "Minor Service Outage" in page(client, "/")  # the internal sev-1 does not count


def test_page_carries_its_refresh_period_but_not_its_etag(client, settings):
    """The refresh learns the ETag from its first response: page bytes depend on public data only."""
    settings.STATUS_PAGE_REFRESH_SECONDS = 45
    response = client.get("/")
    html = response.content.decode()
    assert response["ETag"].strip('"') not in html
    assert 'data-refresh-seconds="45"' in html
    assert "/static/status/status.js" in html
    assert "/static/status/status.css" in html


def test_static_assets_are_self_contained(client):
    for asset in ("status/status.css", "status/status.js"):
        path = finders.find(asset)
        assert path, asset
        text = Path(path).read_text(encoding="utf-8")
        assert "http://" not in text
        assert "https://" not in text
        assert "@import" not in text
