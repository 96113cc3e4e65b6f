"""Status rules and uptime (incidents/status.py): SPEC §4's formula, day by day."""

from datetime import UTC, date, datetime, timedelta

import pytest

from incidents import selectors, services
from incidents import status as rules
from incidents.models import ComponentStatus, Severity, Source
from incidents.tests.factories import make_component, make_incident

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = date(2026, 11, 30)


def outage(status: str, start_hour: float, hours: float | None, *, day: date = DAY, incident_id: int = 1):
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=start_hour)
    end = None if hours is None else start + timedelta(hours=hours)
    return rules.Outage(component_id=1, incident_id=incident_id, status=status, start=start, end=end)


def test_major_outage_minutes_count_fully_and_partial_as_three_tenths():
    assert rules.daily_downtime([outage(ComponentStatus.MAJOR_OUTAGE, 1, 2)], day=DAY, now=NOW) == 120
    assert rules.daily_downtime([outage(ComponentStatus.PARTIAL_OUTAGE, 1, 2)], day=DAY, now=NOW) == pytest.approx(36)
    for status in (ComponentStatus.DEGRADED_PERFORMANCE, ComponentStatus.UNDER_MAINTENANCE):
        assert rules.daily_downtime([outage(status, 1, 2)], day=DAY, now=NOW) == 0


def test_overlapping_outages_count_once_at_the_worst_status():
    spans = [outage(ComponentStatus.PARTIAL_OUTAGE, 0, 4), outage(ComponentStatus.MAJOR_OUTAGE, 1, 1, incident_id=2)]
    # 1 h major + 3 h partial (0.3) = 60 + 54 minutes
    assert rules.daily_downtime(spans, day=DAY, now=NOW) == pytest.approx(114)


def test_an_outage_spanning_midnight_is_split_by_utc_day_and_an_open_one_ends_now():
    spans = [outage(ComponentStatus.MAJOR_OUTAGE, 23, 2)]
    assert rules.daily_downtime(spans, day=DAY, now=NOW) == 60
    assert rules.daily_downtime(spans, day=DAY + timedelta(days=1), now=NOW) == 60
    still_open = [outage(ComponentStatus.MAJOR_OUTAGE, 10, None, day=NOW.date())]
    assert rules.daily_downtime(still_open, day=NOW.date(), now=NOW) == 120


def test_a_stored_daily_figure_wins():
    spans = [outage(ComponentStatus.MAJOR_OUTAGE, 1, 2)]
    assert rules.daily_downtime(spans, day=DAY, now=NOW, stored=7.5) == 7.5
    strips = rules.uptime_strips(spans, now=NOW, stored={(1, DAY): 7.5, (2, DAY): 30.0})
    assert strips[1][-2].down_minutes == 7.5
    assert strips[2][-2].down_minutes == 30.0  # a component known only from stored figures


def test_uptime_percent_over_the_window_and_the_phone_window():
    strips = rules.uptime_strips([outage(ComponentStatus.MAJOR_OUTAGE, 0, 24)], now=NOW)
    strip = strips[1]
    assert len(strip) == rules.UPTIME_DAYS
    assert strip[-1].day == NOW.date()
    total = 89 * 1440 + 12 * 60  # 89 whole days and 12 hours of today
    assert rules.uptime_percent(strip, now=NOW) == pytest.approx(100 * (1 - 1440 / total))
    assert rules.uptime_percent(strip, now=NOW, days=30) == pytest.approx(100 * (1 - 1440 / (29 * 1440 + 720)))
    assert rules.uptime_percent(rules.empty_strip(now=NOW), now=NOW) == 100


@pytest.mark.django_db
def test_uptime_comes_from_public_incidents_only(client):
    component = make_component("Catalyst")
    hidden = make_component("Hidden")
    now = datetime.now(UTC)
    shown = make_incident("Down", severity=Severity.SEV1, components=[component], reported_at=now - timedelta(hours=3))
    services.incident_resolve(
        incident_id=shown.pk, author="U0A", source=Source.SLACK, closed_at=now - timedelta(hours=2)
    )
    make_incident("Secret", severity=Severity.SEV1, components=[hidden], visibility="internal")
    strips = rules.uptime_strips(selectors.uptime_outages(now=now), now=now)
    assert component.pk in strips
    assert hidden.pk not in strips
    assert sum(d.down_minutes for d in strips[component.pk]) == pytest.approx(60, abs=0.1)
    html = client.get("/").content.decode()
    assert "uptime (90 days)" in html
    assert "100% uptime (90 days)" in html  # the hidden component
