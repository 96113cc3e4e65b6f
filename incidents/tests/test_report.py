"""`incident_report`: the metrics page's figures on the command line."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from incidents import services
from incidents.management.commands.incident_report import Command as ReportCommand
from incidents.models import Severity, Source
from incidents.tests.factories import make_component, make_incident

pytestmark = pytest.mark.django_db


def at(*args):
    return datetime(*args, tzinfo=UTC)


def report(*args, stderr: io.StringIO | None = None) -> str:
    out = io.StringIO()
    call_command("incident_report", *args, stdout=out, stderr=stderr or io.StringIO())
    return out.getvalue()


@pytest.fixture
def incidents():
    """Jan 2026: sev-1 acked +15m, resolved +3h; sev-4 open. Feb 2026: sev-1 resolved +1h (acked +5m)."""
    realm = make_component("Realm", slug="realm")
    a = make_incident("A", severity=Severity.SEV1, reported_at=at(2026, 1, 5, 9), components=[realm])
    services.incident_update(incident_id=a.pk, author="x", source=Source.ADMIN, acknowledged_at=at(2026, 1, 5, 9, 15))
    services.incident_resolve(incident_id=a.pk, author="x", source=Source.ADMIN, closed_at=at(2026, 1, 5, 12))
    make_incident("B", severity=Severity.SEV4, reported_at=at(2026, 1, 6))
    c = make_incident("C", severity=Severity.SEV1, reported_at=at(2026, 2, 1, 10))
    services.incident_update(incident_id=c.pk, author="x", source=Source.ADMIN, acknowledged_at=at(2026, 2, 1, 10, 5))
    services.incident_resolve(incident_id=c.pk, author="x", source=Source.ADMIN, closed_at=at(2026, 2, 1, 11))


def test_csv(incidents):
    rows = list(csv.reader(io.StringIO(report("--since", "2026-01-01", "--until", "2026-02-28", "--format", "csv"))))
    assert rows[0][:2] == ["month", "incidents"]
    assert rows[1] == [
        "2026-01",
        "2",
        "1",
        "0",
        "0",
        "1",
        "0",
        "1",
        "900",
        "900",
        "900",
        "1",
        "10800",
        "10800",
        "10800",
    ]
    assert rows[2] == ["2026-02", "1", "1", "0", "0", "0", "0", "1", "300", "300", "300", "1", "3600", "3600", "3600"]
    assert rows[3][:3] == ["total", "3", "2"]
    assert rows[3][8:11] == ["600", "600", "840"]  # MTTA mean, median, p90 over 300 and 900


def test_json(incidents):
    data = json.loads(report("--since", "2026-01-01", "--until", "2026-02-28", "--format", "json"))
    assert data["since"] == "2026-01-01"
    assert data["time_zone"] == "UTC"
    assert [m["month"] for m in data["months"]] == ["2026-01", "2026-02"]
    assert data["months"][0]["by_severity"] == {"sev-1": 1, "sev-2": 0, "sev-3": 0, "sev-4": 1, "sev-5": 0}
    assert data["total"]["count"] == 3
    assert data["total"]["mttr"] == {"count": 2, "mean": 7200.0, "median": 7200.0, "p90": 10080.0}


def test_table_is_the_default(incidents):
    text = report("--since", "2026-01-01", "--until", "2026-02-28")
    lines = text.splitlines()
    assert lines[0] == "Incidents reported 2026-01-01 to 2026-02-28 (UTC)"
    assert lines[1].split()[:3] == ["month", "n", "sev-1"]
    assert " ".join(lines[2].split()) == "2026-01 2 1 0 0 1 0 1 15m 15m 15m 1 3h 0m 3h 0m 3h 0m"
    assert lines[-1].split()[:2] == ["total", "3"]


def test_filters(incidents):
    rows = list(
        csv.reader(
            io.StringIO(
                report("--since", "2026-01-01", "--until", "2026-02-28", "--format", "csv", "--severity", "sev-4")
            )
        )
    )
    assert rows[-1][:2] == ["total", "1"]
    rows = list(
        csv.reader(
            io.StringIO(
                report("--since", "2026-01-01", "--until", "2026-02-28", "--format", "csv", "--component", "realm")
            )
        )
    )
    assert rows[-1][:2] == ["total", "1"]
    assert "components realm" in report("--since", "2026-01-01", "--until", "2026-02-28", "--component", "realm")


def test_until_defaults_to_today(incidents):
    data = json.loads(report("--since", "2026-01-01", "--format", "json"))
    assert data["total"]["count"] == 3
    assert data["months"][0]["month"] == "2026-01"


def test_without_since_the_last_12_months_are_reported(incidents):
    """Issue 18: --since is optional; the default is this month and the 11 before (said in --help)."""
    data = json.loads(report("--until", "2026-12-15", "--format", "json"))
    assert (data["since"], data["until"]) == ("2026-01-01", "2026-12-15")
    assert [m["month"] for m in data["months"]] == [f"2026-{n:02d}" for n in range(1, 13)]
    assert data["total"]["count"] == 3
    later = json.loads(report("--until", "2027-01-31", "--format", "json"))
    assert later["since"] == "2026-02-01"
    assert later["total"]["count"] == 1, "January 2026 is 13 months back: outside the default window"
    help_text = ReportCommand().create_parser("manage.py", "incident_report").format_help()
    assert "default: the last 12 months" in " ".join(help_text.split())


def test_a_range_over_the_cap_is_clamped_with_a_note(incidents):
    note = io.StringIO()
    data = json.loads(report("--since", "1990-01-01", "--until", "2026-02-28", "--format", "json", stderr=note))
    assert (data["since"], data["until"]) == ("2016-03-01", "2026-02-28")
    assert len(data["months"]) == 120
    assert data["total"]["count"] == 3
    assert "more than 120 months; reporting 2016-03-01 to 2026-02-28" in note.getvalue()
    quiet = io.StringIO()
    report("--since", "2016-03-01", "--until", "2026-02-28", "--format", "json", stderr=quiet)
    assert quiet.getvalue() == "", "exactly 120 months needs no note"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "01/01/2026"], "'01/01/2026' is not a date like 2026-01-31"),
        (["--since", "2026-03-01", "--until", "2026-01-01"], "before its start"),
        (["--since", "2026-01-01", "--component", "nope"], "Unknown component slug(s): nope"),
    ],
)
def test_bad_arguments_are_clear_errors(db, args, message):
    with pytest.raises(CommandError) as excinfo:
        report(*args)
    assert message in str(excinfo.value)
