"""Atom and RSS feeds of public incident updates: valid, newest first, public only."""

from datetime import timedelta

import feedparser
import pytest
from django.utils import timezone

from incidents import services
from incidents.feeds import FEED_ENTRIES
from incidents.models import Source, Status, Visibility
from incidents.tests.factories import make_incident

pytestmark = pytest.mark.django_db


def fetch(client, path: str) -> tuple[feedparser.FeedParserDict, str]:
    response = client.get(path)
    assert response.status_code == 200
    text = response.content.decode()
    parsed = feedparser.parse(text)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed, text


@pytest.fixture
def history():
    incident = make_incident("Catalyst down", reported_at=timezone.now() - timedelta(hours=2))
    services.incident_update(
        incident_id=incident.pk, author="U0SECRET", source=Source.SLACK, status=Status.IDENTIFIED, message="Found *it*"
    )
    services.incident_add_note(incident_id=incident.pk, author="U0SECRET", source=Source.SLACK, message="psst note")
    services.incident_resolve(incident_id=incident.pk, author="U0SECRET", source=Source.SLACK, message="Fixed")
    make_incident("Secret outage", visibility=Visibility.INTERNAL)
    invalid = make_incident("False alarm")
    services.incident_mark_invalid(incident_id=invalid.pk, author="U0X", source=Source.SLACK)
    return incident


def test_atom_feed_is_atom_1_0_with_one_entry_per_public_update_newest_first(client, history):
    parsed, text = fetch(client, "/history.atom")
    assert parsed.version == "atom10"
    assert parsed.feed.title.endswith("incident history")
    titles = [e.title for e in parsed.entries]
    assert titles == [
        f"{history.key} Catalyst down — Resolved",
        f"{history.key} Catalyst down — Identified",
        f"{history.key} Catalyst down — Investigating",
    ]
    assert parsed.entries[1].link == f"http://testserver/incidents/{history.key}#update-2"
    assert "<em>it</em>" in parsed.entries[1].summary
    assert len({e.id for e in parsed.entries}) == 3
    assert all(e.get("updated") for e in parsed.entries)


def test_rss_feed_is_rss_2_0(client, history):
    parsed, _ = fetch(client, "/history.rss")
    assert parsed.version == "rss20"
    assert len(parsed.entries) == 3
    assert parsed.entries[0].title.endswith("Resolved")
    assert parsed.entries[0].published_parsed is not None


@pytest.mark.parametrize("path", ["/history.atom", "/history.rss"])
def test_feeds_hold_no_internal_data(client, history, path):
    _, text = fetch(client, path)
    for secret in ("psst note", "Secret outage", "False alarm", "U0SECRET"):
        assert secret not in text


def test_feeds_are_bounded(client):
    incident = make_incident("Chatty")
    for n in range(FEED_ENTRIES + 5):
        services.incident_update(incident_id=incident.pk, author="U0X", source=Source.SLACK, message=f"update {n}")
    parsed, _ = fetch(client, "/history.atom")
    assert len(parsed.entries) == FEED_ENTRIES
    assert parsed.entries[0].summary.endswith(f"update {FEED_ENTRIES + 4}</p>")


def test_feed_escapes_scripts(client):
    make_incident("<script>alert(1)</script>", description="<script>alert(2)</script> [x](javascript:alert(3))")
    _, text = fetch(client, "/history.rss")
    assert "<script>" not in text
    assert "javascript:" not in text
