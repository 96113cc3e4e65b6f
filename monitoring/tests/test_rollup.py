"""Daily roll-up of raw results, bounded storage, and uptime % against a hand-computed example."""

from datetime import UTC, date, datetime, timedelta

import pytest

from incidents import selectors
from incidents.models import ComponentDailyUptime, Severity, Status
from incidents.tests.factories import make_component, make_incident
from monitoring import services
from monitoring.models import Probe, ProbeResult, ProbeState

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 20)
MIDNIGHT = datetime(2026, 11, 20, tzinfo=UTC)


def store_day(probe: Probe, *, day_start: datetime, down_from: int, down_minutes: int, maintenance=()) -> None:
    """One result a minute for a whole day, state `down` for `down_minutes` from minute `down_from`."""
    rows = []
    for minute in range(1440):
        down = down_from <= minute < down_from + down_minutes
        rows.append(
            ProbeResult(
                probe=probe,
                component_id=probe.component_id,
                checked_at=day_start + timedelta(minutes=minute),
                ok=not down,
                latency_ms=20,
                error="HTTP 503" if down else "",
                state=ProbeState.DOWN if down else ProbeState.UP,
                maintenance=minute in maintenance,
            )
        )
    ProbeResult.objects.bulk_create(rows)


def test_a_day_with_72_minutes_down_is_95_percent_up(settings):
    """Hand computation: 1440 one-minute results, 72 of them down → 72 × 60 = 4320 s down of 86400 s
    observed → 1 − 4320/86400 = 0.95 → 95.00 %."""
    settings.PROBE_RESULTS_DAYS = 30
    component = make_component("Marketplace")
    probe = Probe.objects.create(component=component, url="https://example.com/")
    store_day(probe, day_start=MIDNIGHT, down_from=180, down_minutes=72)
    outcome = services.rollup_and_prune(now=MIDNIGHT + timedelta(days=1, hours=2))
    row = ComponentDailyUptime.objects.get(component=component, day=DAY)
    assert (row.observed_seconds, row.down_seconds) == (86400, 4320)
    assert (row.checks, row.failed_checks) == (1440, 72)
    assert outcome["days_written"] == 1
    now = MIDNIGHT + timedelta(days=1, hours=2)
    strip = selectors.uptime_strips(now=now)[component.pk]
    (bar,) = [bar for bar in strip if bar.day == DAY]
    assert bar.down_minutes == 72  # the day's bar: 95.00 % up
    # The 90-day figure: 72 down minutes over 89 whole days and the 2 hours of today.
    assert selectors.uptime_percentages(now=now)[component.pk] == round((1 - 72 / (89 * 1440 + 120)) * 100, 2)


def test_probe_figures_win_over_incident_impact_and_others_use_incidents(settings):
    """On a day a probe covers, its figure decides; other components (and days) follow public incident impact."""
    settings.PROBE_RESULTS_DAYS = 30
    probed = make_component("Probed")
    unprobed = make_component("Unprobed")
    probe = Probe.objects.create(component=probed, url="https://example.com/")
    store_day(probe, day_start=MIDNIGHT, down_from=0, down_minutes=144)  # 10 % down
    now = MIDNIGHT + timedelta(days=1, hours=12)
    # A critical incident on both for the first 9 hours of the probed day: the probe's figure stands.
    make_incident(
        "Both down",
        severity=Severity.SEV1,
        status=Status.RESOLVED,
        reported_at=MIDNIGHT,
        closed_at=MIDNIGHT + timedelta(hours=9),
        components=[probed, unprobed],
    )
    services.rollup_and_prune(now=now)
    figures = selectors.uptime_percentages(now=now)
    window = 89 * 1440 + 720  # minutes: 89 whole days and half of today
    assert figures[probed.pk] == round((1 - 144 / window) * 100, 2)
    assert figures[unprobed.pk] == round((1 - 540 / window) * 100, 2)


def test_major_impact_counts_as_three_tenths_and_overlaps_once():
    component = make_component("API")
    now = MIDNIGHT
    make_incident(
        "major",
        severity=Severity.SEV2,
        status=Status.RESOLVED,
        reported_at=now - timedelta(hours=10),
        closed_at=now - timedelta(hours=5),
        components=[component],
    )
    make_incident(
        "critical inside",
        severity=Severity.SEV1,
        status=Status.RESOLVED,
        reported_at=now - timedelta(hours=8),
        closed_at=now - timedelta(hours=7),
        components=[component],
    )
    down = sum(bar.down_minutes for bar in selectors.uptime_strips(now=now)[component.pk])
    # 4 h at 0.3 (the major alone) + 1 h at 1.0 (the critical on top) = 1.2 h + 1 h.
    assert down == pytest.approx(0.3 * 4 * 60 + 60)


def test_maintenance_minutes_are_not_downtime(settings):
    settings.PROBE_RESULTS_DAYS = 30
    component = make_component()
    probe = Probe.objects.create(component=component, url="https://example.com/")
    store_day(probe, day_start=MIDNIGHT, down_from=0, down_minutes=60, maintenance=range(0, 60))
    services.rollup_and_prune(now=MIDNIGHT + timedelta(days=1, hours=2))
    assert ComponentDailyUptime.objects.get(component=component, day=DAY).down_seconds == 0


def test_storage_stays_bounded_and_reruns_change_nothing(settings):
    settings.PROBE_RESULTS_DAYS = 2
    settings.PROBE_UPTIME_KEEP_DAYS = 100
    component = make_component()
    probe = Probe.objects.create(component=component, url="https://example.com/")
    for n in range(4):
        store_day(probe, day_start=MIDNIGHT + timedelta(days=n), down_from=0, down_minutes=n * 10)
    ComponentDailyUptime.objects.create(
        component=component, day=DAY - timedelta(days=200), observed_seconds=10, down_seconds=0
    )
    # Each day is rolled up while its raw results are still kept (the job runs every few minutes).
    for n in range(4):
        services.rollup_and_prune(now=MIDNIGHT + timedelta(days=n + 1, hours=2))
    now = MIDNIGHT + timedelta(days=4, hours=2)
    first = services.rollup_and_prune(now=now)
    figures = dict(ComponentDailyUptime.objects.filter(component=component).values_list("day", "down_seconds"))
    assert figures == {DAY + timedelta(days=n): n * 10 * 60 for n in range(4)}  # old figure forgotten, 4 days kept
    oldest_raw = ProbeResult.objects.order_by("checked_at").first().checked_at
    assert oldest_raw >= MIDNIGHT + timedelta(days=2)  # raw results: only PROBE_RESULTS_DAYS back
    assert first["results_pruned"] == 0  # the previous runs pruned already
    again = services.rollup_and_prune(now=now)
    assert again["days_written"] == 0
    assert again["results_pruned"] == 0
    assert dict(ComponentDailyUptime.objects.filter(component=component).values_list("day", "down_seconds")) == figures


def test_a_gap_while_the_worker_was_down_is_not_counted():
    rows = [
        (1, MIDNIGHT, ProbeState.DOWN, False, False, 60),
        (1, MIDNIGHT + timedelta(hours=3), ProbeState.UP, True, False, 60),
    ]
    tallies = services.rollup_day_figures(rows, until=MIDNIGHT + timedelta(hours=3, minutes=1))
    tally = tallies[(1, DAY)]
    assert (tally.observed, tally.down) == (180, 120)  # 2 intervals held by the down result, 1 by the last
