"""Print the metrics page's figures in a terminal, for scripts or a monthly review.

    python manage.py incident_report [--since 2026-01-01] [--until 2026-03-31]
        [--severity sev-1 --severity sev-2] [--component realm] [--format table|csv|json]

Same selectors as the admin page (incidents.metrics); durations are seconds in csv/json
and `1d 2h 3m` in the table. Without `--since`: the last 12 months (this month and the 11
before). A range longer than the 120-month cap keeps its end and starts 120 months before it,
with a note on stderr (stdout stays a clean table, CSV or JSON).
"""

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from incidents.metrics import MAX_MONTHS, format_seconds, incident_metrics, metrics_csv, metrics_rows
from incidents.models import Component, Severity

FORMATS = ("table", "csv", "json")
DEFAULT_MONTHS = 12


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date like 2026-01-31.") from None


def _month_start(day: date, *, months_back: int) -> date:
    """First day of the month `months_back` months before `day`'s month."""
    year, month = divmod(day.year * 12 + day.month - 1 - months_back, 12)
    return date(year, month + 1, 1)


class Command(BaseCommand):
    help = "Print incident counts, MTTA and MTTR per month (the admin metrics page's figures)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--since",
            help=f"first day, YYYY-MM-DD (in TIME_ZONE; default: the last {DEFAULT_MONTHS} months, i.e. the first "
            f"day of the month {DEFAULT_MONTHS - 1} months before --until's; a range over {MAX_MONTHS} months is "
            f"shortened to its last {MAX_MONTHS}, with a note)",
        )
        parser.add_argument("--until", help="last day included, YYYY-MM-DD (default: today)")
        parser.add_argument("--severity", action="append", default=[], choices=Severity.values, help="repeatable")
        parser.add_argument("--component", action="append", default=[], help="component slug; repeatable")
        parser.add_argument("--format", choices=FORMATS, default="table")

    def handle(self, *args, since, until, severity, component, format, **options):  # noqa: A002 (option name)
        components = list(Component.objects.filter(slug__in=component))
        unknown = sorted(set(component) - {c.slug for c in components})
        if unknown:
            raise CommandError(f"Unknown component slug(s): {', '.join(unknown)}.")
        last = _date(until) if until else timezone.localdate(timezone=timezone.get_default_timezone())
        first = _date(since) if since else _month_start(last, months_back=DEFAULT_MONTHS - 1)
        earliest = _month_start(last, months_back=MAX_MONTHS - 1)
        if first < earliest:
            self.stderr.write(
                f"Note: {first} to {last} spans more than {MAX_MONTHS} months; reporting {earliest} to {last}."
            )
            first = earliest
        try:
            metrics = incident_metrics(
                since=first,
                until=last,
                severities=severity,
                components=components,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if format == "csv":
            self.stdout.write(metrics_csv(metrics), ending="")
        elif format == "json":
            self.stdout.write(json.dumps(metrics.as_dict(), indent=2, ensure_ascii=False))
        else:
            self.stdout.write(render_table(metrics))


def render_table(metrics) -> str:
    """Fixed-width text table; durations in `1d 2h 3m`."""
    header = ["month", "n", *Severity.values, "mtta n", "mean", "median", "p90", "mttr n", "mean", "median", "p90"]
    lines = []
    for row in metrics_rows(metrics):
        cells = [str(v) for v in row[: 2 + len(Severity.values)]]
        rest = row[2 + len(Severity.values) :]
        for start in (0, 4):
            count, *figures = rest[start : start + 4]
            cells += [str(count)] + [format_seconds(None if f == "" else f) for f in figures]
        lines.append(cells)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    title = f"Incidents reported {metrics.since} to {metrics.until} ({metrics.time_zone})"
    if metrics.severities:
        title += f", severity {', '.join(metrics.severities)}"
    if metrics.components:
        title += f", components {', '.join(metrics.components)}"
    return "\n".join([title, _line(header, widths), *(_line(line, widths) for line in lines)])


def _line(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
