"""Incident metrics for staff (ADR-84's reasons for storing incidents): counts, MTTA, MTTR.

Every figure is computed by the database: counts and means with aggregates grouped by
month, medians and p90s with window functions (ROW_NUMBER/COUNT over a month partition)
that select only the one or two ranked rows a percentile needs. Python only interpolates
between those two values, so the cost does not grow with the number of incidents.
The SQL used works on SQLite (>= 3.25) and PostgreSQL.

Rules (docs/METRICS.md):
- incidents are selected by `reported_at` in [since 00:00, until 24:00) of settings.TIME_ZONE,
  and grouped by the month of `reported_at` in that zone;
- `invalid` incidents and maintenances (SPEC §8: never an outage) are left out; internal incidents
  are counted (this is the staff view);
- MTTA = acknowledged_at - reported_at, over incidents that have been acknowledged and were
  not backfilled (a backfill's acknowledgement time is inferred from its close, not observed);
- MTTR = closed_at - reported_at, over resolved incidents (a reopened incident counts again
  once it is resolved again, up to its last close); open ones do not count;
- percentiles interpolate linearly between ranks (PostgreSQL's PERCENTILE_CONT, Python's
  `statistics.quantiles(method="inclusive")`).
"""

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import NotSupportedError
from django.db.models import Avg, Case, Count, Exists, F, FloatField, Func, OuterRef, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber, TruncMonth
from django.utils import timezone

from incidents.models import Component, Incident, IncidentUpdate, Kind, Severity, Status

PERCENTILES = {"median": 0.5, "p90": 0.9}
MAX_MONTHS = 120


class Seconds(Func):
    """`end - start` in seconds as a float, on SQLite and PostgreSQL (NULL if either is NULL)."""

    output_field = FloatField()
    arity = 2

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(f"Seconds() is not implemented for {connection.vendor}.")

    def as_sqlite(self, compiler, connection, **extra_context):
        # julianday() parses Django's stored UTC text, fractions of seconds included.
        template = "((julianday(%(expressions)s)) * 86400.0)"
        return super().as_sql(compiler, connection, template=template, arg_joiner=") - julianday(", **extra_context)

    def as_postgresql(self, compiler, connection, **extra_context):
        template = "EXTRACT(EPOCH FROM (%(expressions)s))::double precision"
        return super().as_sql(compiler, connection, template=template, arg_joiner=" - ", **extra_context)


@dataclass(frozen=True)
class DurationStats:
    """Seconds; `count` is how many incidents the figures are computed over (None when 0)."""

    count: int = 0
    mean: float | None = None
    median: float | None = None
    p90: float | None = None


@dataclass(frozen=True)
class Period:
    """Figures for one month (`month` = its first day) or for the whole range (`month` None)."""

    month: date | None
    count: int = 0
    by_severity: dict[str, int] = field(default_factory=lambda: dict.fromkeys(Severity.values, 0))
    mtta: DurationStats = DurationStats()
    mttr: DurationStats = DurationStats()


@dataclass(frozen=True)
class Metrics:
    since: date
    until: date
    severities: tuple[str, ...]
    components: tuple[str, ...]  # slugs
    time_zone: str
    total: Period
    months: list[Period]

    def as_dict(self) -> dict:
        data = asdict(self)
        data["since"] = self.since.isoformat()
        data["until"] = self.until.isoformat()
        data["total"].pop("month")
        for month in data["months"]:
            month["month"] = month["month"].strftime("%Y-%m")
        return data


def incident_metrics(
    *,
    since: date,
    until: date | None = None,
    severities: Iterable[str] = (),
    components: Iterable[Component] = (),
) -> Metrics:
    """Counts, MTTA and MTTR for incidents reported from `since` to `until` (both days included)."""
    tz = timezone.get_default_timezone()
    until = until or timezone.localdate(timezone=tz)
    if until < since:
        raise ValueError("The end of the range is before its start.")
    months = _months(since, until)
    if len(months) > MAX_MONTHS:
        raise ValueError(f"The range spans {len(months)} months; at most {MAX_MONTHS} are allowed.")
    severities = tuple(sorted(set(severities)))
    components = tuple(components)
    qs = _incidents(since=since, until=until, severities=severities, components=components, tz=tz)
    by_month = qs.annotate(month=TruncMonth("reported_at", tzinfo=tz))

    counts: dict[date, dict[str, int]] = {}
    for row in by_month.values("month", "severity").annotate(n=Count("id")).order_by():
        counts.setdefault(_as_date(row["month"]), {})[row["severity"]] = row["n"]

    means: dict[date | None, dict] = {}
    aggregates = {"mtta_n": Count("mtta"), "mtta_mean": Avg("mtta"), "mttr_n": Count("mttr"), "mttr_mean": Avg("mttr")}
    for row in by_month.values("month").annotate(**aggregates).order_by():
        means[_as_date(row["month"])] = row
    means[None] = qs.aggregate(**aggregates)

    percentiles = {
        (metric, name, grouped): _percentiles(by_month if grouped else qs, metric, p, by_month=grouped)
        for metric in ("mtta", "mttr")
        for name, p in PERCENTILES.items()
        for grouped in (False, True)
    }

    def stats(metric: str, month: date | None) -> DurationStats:
        row = means.get(month) or {}
        n = row.get(f"{metric}_n") or 0
        if not n:
            return DurationStats()
        found = {name: percentiles[(metric, name, month is not None)].get(month) for name in PERCENTILES}
        return DurationStats(count=n, mean=_round(row[f"{metric}_mean"]), **found)

    def period(month: date | None) -> Period:
        if month is None:
            per_severity = {s: sum(c.get(s, 0) for c in counts.values()) for s in Severity.values}
        else:
            per_severity = {s: counts.get(month, {}).get(s, 0) for s in Severity.values}
        return Period(
            month=month,
            count=sum(per_severity.values()),
            by_severity=per_severity,
            mtta=stats("mtta", month),
            mttr=stats("mttr", month),
        )

    return Metrics(
        since=since,
        until=until,
        severities=severities,
        components=tuple(c.slug for c in components),
        time_zone=str(tz),
        total=period(None),
        months=[period(m) for m in months],
    )


def _incidents(
    *, since: date, until: date, severities: Sequence[str], components: Sequence[Component], tz
) -> QuerySet[Incident]:
    start = datetime.combine(since, time.min, tzinfo=tz)
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=tz)
    backfilled = IncidentUpdate.objects.filter(incident=OuterRef("pk"), number=1, changes__has_key="backfill")
    qs = (
        Incident.objects.exclude(status=Status.INVALID)
        .filter(kind=Kind.INCIDENT, reported_at__gte=start, reported_at__lt=end)
        .annotate(
            # A backfill keeps its MTTR, but its acknowledgement time was inferred, not observed.
            mtta=Case(When(Exists(backfilled), then=None), default=Seconds(F("acknowledged_at"), F("reported_at"))),
            mttr=Seconds(F("closed_at"), F("reported_at")),
        )
    )
    if severities:
        qs = qs.filter(severity__in=severities)
    if components:
        through = Incident.components.through.objects.filter(
            incident_id=OuterRef("pk"), component_id__in=[c.pk for c in components]
        )
        qs = qs.filter(Exists(through))
    return qs


def _percentiles(qs: QuerySet, metric: str, p: float, *, by_month: bool) -> dict[date | None, float]:
    """{month (None for the whole range): value} for percentile `p` of `metric`, from at most 2 rows a month.

    With n values ranked 1..n, the percentile sits at rank h = 1 + (n - 1)·p; the rows with
    h - 1 < rank < h + 1 are the one or two neighbours to interpolate between.
    """
    partition = [F("month")] if by_month else []
    ranked = (
        qs.filter(**{f"{metric}__isnull": False})
        .annotate(
            rank=Window(RowNumber(), partition_by=partition, order_by=[F(metric).asc(), F("pk").asc()]),
            n=Window(Count("pk"), partition_by=partition),
        )
        .annotate(h=Value(1.0) + (F("n") - Value(1.0)) * Value(p))
        .filter(rank__gt=F("h") - Value(1.0), rank__lt=F("h") + Value(1.0))
    )
    fields = ["rank", "h", metric] + (["month"] if by_month else [])
    neighbours: dict[date | None, list[tuple[int, float, float]]] = {}
    for row in ranked.values(*fields).order_by():
        month = _as_date(row["month"]) if by_month else None
        neighbours.setdefault(month, []).append((row["rank"], row["h"], row[metric]))
    result = {}
    for month, rows in neighbours.items():
        rows.sort()
        low_rank, h, low = rows[0]
        high = rows[-1][2]
        result[month] = _round(low + (h - low_rank) * (high - low))
    return result


def _months(since: date, until: date) -> list[date]:
    months, month = [], since.replace(day=1)
    while month <= until:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def _as_date(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _round(seconds: float | None) -> float | None:
    """Whole seconds: SQLite's julianday arithmetic carries float noise well below that."""
    return None if seconds is None else float(round(seconds))


# Presentation shared by the admin page, its CSV download and `incident_report`.

CSV_HEADER = (
    ["month", "incidents"]
    + Severity.values
    + [f"{metric}_{figure}" for metric in ("mtta", "mttr") for figure in ("count", "mean_s", "median_s", "p90_s")]
)


def metrics_rows(metrics: Metrics) -> list[list]:
    """One row per month then a `total` row, in CSV_HEADER's order (durations in seconds)."""
    rows = []
    for period in [*metrics.months, metrics.total]:
        row = [period.month.strftime("%Y-%m") if period.month else "total", period.count]
        row += [period.by_severity[s] for s in Severity.values]
        for stats in (period.mtta, period.mttr):
            row += [stats.count, _int(stats.mean), _int(stats.median), _int(stats.p90)]
        rows.append(row)
    return rows


def metrics_csv(metrics: Metrics) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(metrics_rows(metrics))
    return out.getvalue()


def format_seconds(seconds: float | None) -> str:
    """`1d 2h 3m`, `2h 0m`, `45m`, `30s`; `—` when there is nothing to show."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    days, minutes = divmod(minutes, 60 * 24)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days}d"] if days else []
    if days or hours:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m")
    return " ".join(parts)


def _int(value: float | None) -> int | str:
    return "" if value is None or math.isnan(value) else int(value)
