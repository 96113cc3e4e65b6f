"""Metrics against figures computed by hand on a fixed data set (docs/METRICS.md).

The same tests run on SQLite and, with DATABASE_URL, on PostgreSQL.
"""

import statistics
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents import services
from incidents.metrics import Seconds, incident_metrics, metrics_csv, metrics_rows
from incidents.models import Incident, Severity, Source, Status, Visibility
from incidents.tests.factories import make_component, make_incident

pytestmark = pytest.mark.django_db

HOUR = 3600
DAY = 86400


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def staff_change(incident, **fields):
    return services.incident_update(incident_id=incident.pk, author="staff:test", source=Source.ADMIN, **fields)


@pytest.fixture
def dataset():
    """Ten incidents around the month and time-zone boundaries of early 2025 (times in UTC).

    | | reported (UTC) | sev | acknowledged | closed | notes |
    | A | Jan 10 10:00 | 1 | +10m | +2h | components Realm, Wallet |
    | B | Jan 20 08:00 | 2 | +30m | +1d | |
    | C | Jan 25 00:00 | 3 | never | open | |
    | J | Jan 1 03:00 | 5 | never | open | Dec 31 in New York |
    | D | Feb 1 03:00 | 2 | +5m | +1h | Jan 31 in New York |
    | E | Feb 10 12:00 | 4 | +20m | +1h, reopened, +1d | internal, component Realm |
    | F | Feb 15 15:00 | 3 | +40m | open (identified) | |
    | G | Feb 20 10:00 | 1 | | | invalid: never counted |
    | H | Mar 5 10:00 | 2 | inferred | +1h30m | backfilled already resolved |
    | K | Apr 1 02:00 | 5 | never | open | Mar 31 in New York |
    """
    realm, wallet = make_component("Realm", slug="realm"), make_component("Wallet", slug="wallet")
    made = {}

    a = made["A"] = make_incident(
        "A", severity=Severity.SEV1, reported_at=at(2025, 1, 10, 10), components=[realm, wallet]
    )
    staff_change(a, acknowledged_at=at(2025, 1, 10, 10, 10))
    services.incident_resolve(incident_id=a.pk, author="U1", source=Source.SLACK, closed_at=at(2025, 1, 10, 12))

    b = made["B"] = make_incident("B", severity=Severity.SEV2, reported_at=at(2025, 1, 20, 8))
    staff_change(b, acknowledged_at=at(2025, 1, 20, 8, 30))
    services.incident_resolve(incident_id=b.pk, author="U1", source=Source.SLACK, closed_at=at(2025, 1, 21, 8))

    made["C"] = make_incident("C", severity=Severity.SEV3, reported_at=at(2025, 1, 25))
    made["J"] = make_incident("J", severity=Severity.SEV5, reported_at=at(2025, 1, 1, 3))

    d = made["D"] = make_incident("D", severity=Severity.SEV2, reported_at=at(2025, 2, 1, 3))
    staff_change(d, acknowledged_at=at(2025, 2, 1, 3, 5))
    services.incident_resolve(incident_id=d.pk, author="U1", source=Source.SLACK, closed_at=at(2025, 2, 1, 4))

    e = made["E"] = make_incident(
        "E", severity=Severity.SEV4, visibility=Visibility.INTERNAL, reported_at=at(2025, 2, 10, 12), components=[realm]
    )
    staff_change(e, acknowledged_at=at(2025, 2, 10, 12, 20))
    services.incident_resolve(incident_id=e.pk, author="U1", source=Source.SLACK, closed_at=at(2025, 2, 10, 13))
    services.incident_reopen(incident_id=e.pk, author="U1", source=Source.SLACK, message="Back again")
    services.incident_resolve(incident_id=e.pk, author="U1", source=Source.SLACK, closed_at=at(2025, 2, 11, 12))

    f = made["F"] = make_incident("F", severity=Severity.SEV3, reported_at=at(2025, 2, 15, 15))
    staff_change(f, status=Status.IDENTIFIED, acknowledged_at=at(2025, 2, 15, 15, 40))

    g = made["G"] = make_incident("G", severity=Severity.SEV1, reported_at=at(2025, 2, 20, 10))
    services.incident_mark_invalid(incident_id=g.pk, author="U1", source=Source.SLACK)

    made["H"] = make_incident(
        "H",
        severity=Severity.SEV2,
        status=Status.RESOLVED,
        reported_at=at(2025, 3, 5, 10),
        closed_at=at(2025, 3, 5, 11, 30),
        source=Source.ADMIN,
    )
    made["K"] = make_incident("K", severity=Severity.SEV5, reported_at=at(2025, 4, 1, 2))
    return {"incidents": made, "realm": realm, "wallet": wallet}


def sev(**counts):
    return {s: counts.get(s.replace("-", ""), 0) for s in Severity.values}


def figures(stats):
    return (stats.count, stats.mean, stats.median, stats.p90)


def test_fixed_data_set_in_utc(dataset):
    m = incident_metrics(since=date(2025, 1, 1), until=date(2025, 3, 31))
    assert [p.month for p in m.months] == [date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)]
    jan, feb, mar = m.months

    # January: A, B, C, J (J is Jan 1 03:00 UTC).
    assert jan.count == 4
    assert jan.by_severity == sev(sev1=1, sev2=1, sev3=1, sev5=1)
    assert figures(jan.mtta) == (2, 1200, 1200, 600 + 0.9 * 1200)
    assert figures(jan.mttr) == (2, (2 * HOUR + DAY) / 2, (2 * HOUR + DAY) / 2, 2 * HOUR + 0.9 * (DAY - 2 * HOUR))

    # February: D, E (internal, reopened: MTTR to its last close), F (open); G invalid is left out.
    assert feb.count == 3
    assert feb.by_severity == sev(sev2=1, sev3=1, sev4=1)
    assert figures(feb.mtta) == (3, 1300, 1200, 1200 + 0.8 * 1200)
    assert figures(feb.mttr) == (2, (HOUR + DAY) / 2, (HOUR + DAY) / 2, HOUR + 0.9 * (DAY - HOUR))

    # March: H is a backfill: MTTR yes, MTTA no (its acknowledgement time was inferred).
    assert mar.count == 1
    assert mar.by_severity == sev(sev2=1)
    assert figures(mar.mtta) == (0, None, None, None)
    assert figures(mar.mttr) == (1, 5400, 5400, 5400)

    total = m.total
    assert total.count == 8
    assert total.by_severity == sev(sev1=1, sev2=3, sev3=2, sev4=1, sev5=1)
    # MTTA over 300, 600, 1200, 1800, 2400; MTTR over 3600, 5400, 7200, 86400, 86400.
    assert figures(total.mtta) == (5, 1260, 1200, 1800 + 0.6 * 600)
    assert figures(total.mttr) == (5, 37800, 7200, DAY)


def test_months_and_range_follow_the_configured_time_zone(dataset, settings):
    settings.TIME_ZONE = "America/New_York"
    m = incident_metrics(since=date(2025, 1, 1), until=date(2025, 3, 31))
    jan, feb, mar = m.months
    assert m.time_zone == "America/New_York"

    # J (Dec 31 22:00 local) is out; D (Jan 31 22:00 local) belongs to January.
    assert jan.count == 4
    assert jan.by_severity == sev(sev1=1, sev2=2, sev3=1)
    assert figures(jan.mtta) == (3, 900, 600, 600 + 0.8 * 1200)
    assert figures(jan.mttr) == (3, 32400, 2 * HOUR, 2 * HOUR + 0.8 * (DAY - 2 * HOUR))

    assert feb.count == 2
    assert figures(feb.mtta) == (2, 1800, 1800, 1200 + 0.9 * 1200)
    assert figures(feb.mttr) == (1, DAY, DAY, DAY)

    # K (Mar 31 22:00 local, summer time) is in.
    assert mar.count == 2
    assert mar.by_severity == sev(sev2=1, sev5=1)
    assert m.total.count == 8


def test_severity_filter(dataset):
    m = incident_metrics(since=date(2025, 1, 1), until=date(2025, 3, 31), severities=[Severity.SEV2])
    assert m.total.count == 3
    assert m.total.by_severity == sev(sev2=3)
    assert figures(m.total.mtta) == (2, 1050, 1050, 300 + 0.9 * 1500)
    assert figures(m.total.mttr) == (3, (DAY + HOUR + 5400) / 3, 5400, 5400 + 0.8 * (DAY - 5400))


def test_component_filter_counts_each_incident_once(dataset):
    m = incident_metrics(
        since=date(2025, 1, 1), until=date(2025, 3, 31), components=[dataset["realm"], dataset["wallet"]]
    )
    assert m.total.count == 2  # A (both components) and E
    assert [p.count for p in m.months] == [1, 1, 0]
    assert m.components == ("realm", "wallet")
    only_wallet = incident_metrics(since=date(2025, 1, 1), until=date(2025, 3, 31), components=[dataset["wallet"]])
    assert only_wallet.total.count == 1


def test_range_is_inclusive_of_both_days(dataset):
    m = incident_metrics(since=date(2025, 1, 10), until=date(2025, 1, 20))
    assert m.total.count == 2  # A on the 10th, B on the 20th
    assert [p.month for p in m.months] == [date(2025, 1, 1)]


def test_empty_range_gives_zeros_and_no_durations(db):
    m = incident_metrics(since=date(2024, 11, 15), until=date(2025, 1, 2))
    assert [p.month for p in m.months] == [date(2024, 11, 1), date(2024, 12, 1), date(2025, 1, 1)]
    assert all(p.count == 0 for p in m.months)
    assert figures(m.total.mtta) == (0, None, None, None)


def test_bad_ranges_are_refused(db):
    with pytest.raises(ValueError, match="before its start"):
        incident_metrics(since=date(2025, 2, 1), until=date(2025, 1, 1))
    with pytest.raises(ValueError, match="at most 120"):
        incident_metrics(since=date(2000, 1, 1), until=date(2025, 1, 1))


def test_rows_and_csv(dataset):
    m = incident_metrics(since=date(2025, 1, 1), until=date(2025, 3, 31))
    rows = metrics_rows(m)
    assert rows[0][:7] == ["2025-01", 4, 1, 1, 1, 0, 1]
    assert rows[-1][0] == "total"
    text = metrics_csv(m)
    lines = text.splitlines()
    assert lines[0].startswith("month,incidents,sev-1,sev-2,sev-3,sev-4,sev-5,mtta_count,mtta_mean_s")
    assert lines[3] == "2025-03,1,0,1,0,0,0,0,,,,1,5400,5400,5400"
    assert len(lines) == 5


def test_seconds_expression_has_sub_second_precision(db):
    incident = make_incident("precise", reported_at=at(2025, 1, 1, 0, 0, 0))
    Incident.objects.filter(pk=incident.pk).update(acknowledged_at=at(2025, 1, 1, 0, 0, 1, 500000))
    value = Incident.objects.annotate(s=Seconds("acknowledged_at", "reported_at")).get().s
    assert value == pytest.approx(1.5, abs=1e-3)


durations = st.lists(st.integers(min_value=0, max_value=30 * DAY), min_size=1, max_size=25)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=durations)
def test_percentiles_match_linear_interpolation(values):
    """Whatever the durations, median/p90 equal Python's inclusive quantiles (PERCENTILE_CONT)."""
    Incident.objects.all().delete()
    start = at(2025, 5, 1)
    Incident.objects.bulk_create(
        Incident(
            title=f"i{i}",
            reported_at=start + timedelta(hours=i),
            acknowledged_at=start + timedelta(hours=i, seconds=v),
            created_by="t",
            modified_by="t",
        )
        for i, v in enumerate(values)
    )
    m = incident_metrics(since=date(2025, 5, 1), until=date(2025, 5, 31)).total.mtta
    assert m.count == len(values)
    # Figures are in whole seconds; a .5 may round either way after SQLite's float arithmetic.
    assert m.median == pytest.approx(statistics.median(values), abs=0.5)
    expected_p90 = values[0] if len(values) == 1 else statistics.quantiles(values, n=10, method="inclusive")[8]
    assert m.p90 == pytest.approx(expected_p90, abs=0.5)
    assert m.mean == pytest.approx(statistics.fmean(values), abs=0.5)


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="cross-checks with PostgreSQL's PERCENTILE_CONT")
def test_percentiles_agree_with_postgresql_percentile_cont(dataset):
    m = incident_metrics(since=date(2025, 1, 1), until=date(2025, 3, 31))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s), percentile_cont(0.9) WITHIN GROUP (ORDER BY s) "
            "FROM (SELECT EXTRACT(EPOCH FROM closed_at - reported_at) AS s FROM incidents_incident "
            "WHERE closed_at IS NOT NULL AND reported_at < %s) t",
            [at(2025, 4, 1)],
        )
        median, p90 = cursor.fetchone()
    assert (m.total.mttr.median, m.total.mttr.p90) == (float(median), float(p90))
