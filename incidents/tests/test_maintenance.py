"""Scheduled maintenance (SPEC §8): domain rules, the worker's job under a controlled clock, public JSON."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from jsonschema import Draft202012Validator

from crashbot.scheduling import JOBS
from incidents import maintenance_jobs, services
from incidents.metrics import incident_metrics
from incidents.models import ComponentStatus, Incident, IncidentUpdate, Kind, Severity, Source, Status, Visibility
from incidents.tests.factories import make_component, make_incident

pytestmark = pytest.mark.django_db

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "statuspage_v2.json").read_text())
T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # "now" at scheduling time
START = T0 + timedelta(hours=2)
END = START + timedelta(hours=2)


def validate(body: dict, definition: str) -> None:
    Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{definition}"}).validate(body)


def schedule(**fields) -> Incident:
    defaults = {
        "title": "Catalyst upgrade",
        "author": "U0OPS",
        "source": Source.SLACK,
        "scheduled_for": START,
        "scheduled_until": END,
    }
    return services.maintenance_schedule(**(defaults | fields))


def rows(incident: Incident) -> list[IncidentUpdate]:
    return list(IncidentUpdate.objects.filter(incident=incident).order_by("number"))


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


# -- domain --------------------------------------------------------------------------------------------------
def test_scheduling_writes_one_row_and_is_not_an_open_incident(clock):
    catalyst = make_component("Catalyst", slug="catalyst")
    maintenance = schedule(components=[catalyst], description="Upgrading the content servers")
    assert maintenance.kind == Kind.MAINTENANCE
    assert maintenance.status == Status.SCHEDULED
    assert maintenance.impact == "maintenance"
    assert not maintenance.is_open
    [row] = rows(maintenance)
    assert row.number == 1
    assert row.source == Source.SLACK
    assert row.changes["scheduled_for"] == [None, START.isoformat()]
    assert row.changes["kind"] == [None, "maintenance"]
    assert not Incident.objects.filter(status__in=("investigating", "identified", "monitoring")).exists()


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"scheduled_until": START}, "scheduled_until", "end after it starts"),
        ({"scheduled_until": START - timedelta(minutes=1)}, "scheduled_until", "end after it starts"),
        ({"scheduled_for": T0 - timedelta(hours=1)}, "scheduled_for", "in the past"),
        ({"title": ""}, "title", ""),
        ({"status": Status.COMPLETED}, "status", "starts as scheduled"),
    ],
)
def test_bad_windows_are_refused_with_a_reason(clock, fields, field, words):
    with pytest.raises(ValidationError) as exc:
        schedule(**fields)
    assert field in exc.value.message_dict
    assert words in " ".join(exc.value.message_dict[field])
    assert not Incident.objects.exists()


def test_staff_may_backfill_a_past_maintenance(clock):
    past = schedule(
        source=Source.ADMIN,
        author="staff:ana",
        scheduled_for=T0 - timedelta(days=2),
        scheduled_until=T0 - timedelta(days=2) + timedelta(hours=1),
        status=Status.COMPLETED,
    )
    assert past.status == Status.COMPLETED
    assert past.closed_at is not None
    assert past.started_at is not None
    assert rows(past)[0].changes["backfill"] == [None, True]


def test_database_refuses_a_maintenance_without_window_or_with_an_incident_status(clock):
    maintenance = schedule()
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.filter(pk=maintenance.pk).update(scheduled_until=START - timedelta(hours=1))
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.filter(pk=maintenance.pk).update(status=Status.INVESTIGATING)
    incident = make_incident()
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.filter(pk=incident.pk).update(status=Status.IN_PROGRESS)


def test_incident_statuses_and_maintenance_statuses_do_not_mix(clock):
    maintenance = schedule()
    with pytest.raises(ValidationError, match="maintenance is one of"):
        services.incident_resolve(incident_id=maintenance.pk, author="U0OPS", source=Source.SLACK)
    incident = make_incident()
    with pytest.raises(ValidationError, match="not a maintenance"):
        services.maintenance_transition(
            incident_id=incident.pk, status=Status.IN_PROGRESS, author="U0OPS", source=Source.SLACK
        )
    with pytest.raises(ValidationError, match="incident is one of"):
        services.incident_update(incident_id=incident.pk, author="U0OPS", source=Source.SLACK, status=Status.COMPLETED)


def test_lifecycle_moves_and_their_timestamps(clock):
    maintenance = schedule()
    kw = {"incident_id": maintenance.pk, "author": "U0OPS", "source": Source.SLACK}
    with pytest.raises(ValidationError, match="scheduled; from there it can go to in_progress, cancelled"):
        services.maintenance_transition(status=Status.COMPLETED, **kw)
    clock.move_to(START + timedelta(minutes=5))
    started = services.maintenance_transition(status=Status.IN_PROGRESS, **kw)
    assert started.started_at == START + timedelta(minutes=5)
    verifying = services.maintenance_transition(status=Status.VERIFYING, message="Checking", **kw)
    assert verifying.status == Status.VERIFYING
    assert verifying.closed_at is None
    clock.move_to(START + timedelta(minutes=50))
    done = services.maintenance_transition(status=Status.COMPLETED, **kw)
    assert done.closed_at == START + timedelta(minutes=50)
    assert done.duration == timedelta(minutes=45)
    with pytest.raises(ValidationError, match="nowhere"):
        services.maintenance_transition(status=Status.CANCELLED, **kw)
    assert [r.status for r in rows(done)] == ["scheduled", "in_progress", "verifying", "completed"]


def test_metrics_leave_maintenances_out(clock):
    make_incident("Real outage", severity=Severity.SEV2, reported_at=T0 - timedelta(hours=1))
    schedule()
    metrics = incident_metrics(since=T0.date() - timedelta(days=1), until=T0.date())
    assert metrics.total.count == 1


# -- the worker's job ----------------------------------------------------------------------------------------
def test_the_job_is_registered_with_the_recurring_jobs():
    [job] = [j for j in JOBS if j.func == "incidents.maintenance_jobs.run_due"]
    assert job.every <= timedelta(minutes=1)


def test_job_reminds_starts_and_completes_once_each_at_the_right_time(clock, settings):
    settings.MAINTENANCE_REMINDER_MINUTES = 60
    catalyst = make_component("Catalyst", slug="catalyst")
    maintenance = schedule(components=[catalyst])
    none = {"reminded": 0, "started": 0, "completed": 0}

    assert maintenance_jobs.run_due() == none
    clock.move_to(START - timedelta(minutes=61))
    assert maintenance_jobs.run_due() == none
    clock.move_to(START - timedelta(minutes=59))
    assert maintenance_jobs.run_due() == none | {"reminded": 1}
    assert maintenance_jobs.run_due() == none
    reminder = rows(maintenance)[-1]
    assert reminder.source == Source.SYSTEM
    assert reminder.author == "crashbot"
    assert reminder.visibility == Visibility.INTERNAL
    assert "starts in 59 min" in reminder.message
    assert "Catalyst" in reminder.message

    clock.move_to(START - timedelta(seconds=1))
    assert maintenance_jobs.run_due() == none
    clock.move_to(START)
    assert maintenance_jobs.run_due() == none | {"started": 1}
    assert maintenance_jobs.run_due() == none
    maintenance.refresh_from_db()
    assert maintenance.status == Status.IN_PROGRESS
    assert maintenance.started_at == START
    started = rows(maintenance)[-1]
    assert (started.source, started.author, started.visibility) == (Source.SYSTEM, "crashbot", Visibility.PUBLIC)
    assert "in progress" in started.message

    clock.move_to(END)
    assert maintenance_jobs.run_due() == none | {"completed": 1}
    assert maintenance_jobs.run_due() == none
    maintenance.refresh_from_db()
    assert maintenance.status == Status.COMPLETED
    assert maintenance.closed_at == END
    assert [r.status for r in rows(maintenance)] == ["scheduled", "scheduled", "in_progress", "completed"]


def test_a_worker_down_across_the_start_starts_it_once_when_back(clock):
    maintenance = schedule()
    clock.move_to(START + timedelta(minutes=25))  # nothing ran since before the reminder window
    assert maintenance_jobs.run_due() == {"reminded": 0, "started": 1, "completed": 0}
    assert maintenance_jobs.run_due() == {"reminded": 0, "started": 0, "completed": 0}
    maintenance.refresh_from_db()
    assert maintenance.status == Status.IN_PROGRESS
    assert [r.status for r in rows(maintenance)] == ["scheduled", "in_progress"]  # no late reminder


def test_a_worker_down_for_the_whole_window_starts_then_completes(clock):
    maintenance = schedule()
    clock.move_to(END + timedelta(hours=1))
    assert maintenance_jobs.run_due() == {"reminded": 0, "started": 1, "completed": 1}
    maintenance.refresh_from_db()
    assert maintenance.status == Status.COMPLETED
    assert maintenance_jobs.run_due() == {"reminded": 0, "started": 0, "completed": 0}


def test_auto_start_and_auto_complete_off_leave_it_to_people(clock):
    manual = schedule(auto_start=False, auto_complete=False)
    clock.move_to(END + timedelta(hours=1))
    assert maintenance_jobs.run_due()["started"] == 0
    services.maintenance_transition(incident_id=manual.pk, status=Status.IN_PROGRESS, author="U0OPS", source="slack")
    assert maintenance_jobs.run_due()["completed"] == 0
    manual.refresh_from_db()
    assert manual.status == Status.IN_PROGRESS


def test_cancelled_or_started_by_hand_is_left_alone_by_the_job(clock):
    cancelled = schedule()
    early = schedule(title="Early start")
    kw = {"author": "U0OPS", "source": Source.SLACK}
    services.maintenance_transition(incident_id=cancelled.pk, status=Status.CANCELLED, **kw)
    services.maintenance_transition(incident_id=early.pk, status=Status.IN_PROGRESS, **kw)
    clock.move_to(START)
    assert maintenance_jobs.run_due() == {"reminded": 0, "started": 0, "completed": 0}
    assert len(rows(early)) == 2
    assert len(rows(cancelled)) == 2


# -- public JSON ---------------------------------------------------------------------------------------------
def test_v2_lists_follow_the_life_of_a_maintenance(client, clock):
    catalyst = make_component("Catalyst", slug="catalyst")
    builder = make_component("Builder", slug="builder")
    maintenance = schedule(components=[catalyst], description="Upgrading the content servers")
    schedule(title="Secret maintenance", visibility=Visibility.INTERNAL, components=[builder])

    def v2(path: str) -> dict:
        response = client.get(f"/api/v2/{path}")
        assert response.status_code == 200
        body = response.json()
        validate(
            body,
            "summary"
            if path == "summary.json"
            else "status_response"
            if path == "status.json"
            else ("scheduled_maintenances_response"),
        )
        return body

    def keys(path: str) -> list[str]:
        return [m["id"] for m in v2(path)["scheduled_maintenances"]]

    assert keys("scheduled-maintenances/upcoming.json") == [maintenance.key]
    assert keys("scheduled-maintenances/active.json") == []
    assert keys("summary.json") == [maintenance.key]
    assert v2("status.json")["status"]["indicator"] == "none"
    [item] = v2("scheduled-maintenances.json")["scheduled_maintenances"]
    assert item["impact"] == "maintenance"
    assert item["status"] == "scheduled"
    assert item["scheduled_for"] == "2026-12-05T14:00:00.000Z"
    assert item["scheduled_until"] == "2026-12-05T16:00:00.000Z"
    assert [u["body"] for u in item["incident_updates"]] == ["Upgrading the content servers"]
    assert [c["id"] for c in item["components"]] == ["catalyst"]
    assert "Secret" not in json.dumps(v2("scheduled-maintenances.json"))

    clock.move_to(START)
    maintenance_jobs.run_due()
    assert keys("scheduled-maintenances/active.json") == [maintenance.key]
    assert keys("scheduled-maintenances/upcoming.json") == []
    summary = v2("summary.json")
    assert summary["status"]["indicator"] == "maintenance"
    assert {c["id"]: c["status"] for c in summary["components"]} == {
        "catalyst": ComponentStatus.UNDER_MAINTENANCE,
        "builder": ComponentStatus.OPERATIONAL,  # the internal maintenance shows nowhere
    }
    assert v2("status.json")["status"] == {"indicator": "maintenance", "description": "Service Under Maintenance"}
    assert client.get("/api/v2/incidents/unresolved.json").json()["incidents"] == []
    assert client.get("/list").json() == {"open": [], "closed": []}

    clock.move_to(END)
    maintenance_jobs.run_due()
    assert keys("scheduled-maintenances/active.json") == []
    [done] = v2("scheduled-maintenances.json")["scheduled_maintenances"]
    assert done["status"] == "completed"
    assert done["resolved_at"] == "2026-12-05T16:00:00.000Z"
    assert [u["status"] for u in done["incident_updates"]] == ["completed", "in_progress", "scheduled"]
    assert v2("status.json")["status"]["indicator"] == "none"
    assert client.get("/api/v2/incidents.json").json()["incidents"] == []
    assert client.get("/list").json() == {"open": [], "closed": []}


def test_an_incident_during_maintenance_wins_over_maintenance(client, clock):
    catalyst = make_component("Catalyst", slug="catalyst")
    schedule(components=[catalyst])
    clock.move_to(START)
    maintenance_jobs.run_due()
    make_incident("Catalyst down", severity=Severity.SEV1, components=[catalyst])
    summary = client.get("/api/v2/summary.json").json()
    assert summary["status"]["indicator"] == "critical"
    assert summary["components"][0]["status"] == ComponentStatus.MAJOR_OUTAGE
    assert len(summary["scheduled_maintenances"]) == 1
    assert len(summary["incidents"]) == 1


def test_a_cancelled_maintenance_leaves_every_public_list(client, clock):
    maintenance = schedule()
    services.maintenance_transition(
        incident_id=maintenance.pk, status=Status.CANCELLED, author="U0OPS", source=Source.SLACK
    )
    for path in ("scheduled-maintenances.json", "scheduled-maintenances/upcoming.json", "summary.json"):
        assert client.get(f"/api/v2/{path}").json()["scheduled_maintenances"] == []
    assert maintenance.key not in client.get("/history").content.decode()


# -- pages and feeds -----------------------------------------------------------------------------------------
def test_pages_show_upcoming_then_in_progress_maintenance_with_absolute_times(client, clock):
    catalyst = make_component("Catalyst", slug="catalyst")
    maintenance = schedule(components=[catalyst], description="Upgrading the content servers")
    page = client.get("/").content.decode()
    assert "Scheduled maintenance" in page
    assert "Maintenance in progress" not in page
    assert "Sat Dec 5, 2026 14:00 UTC" in page
    assert "16:00 UTC" in page
    assert "All Systems Operational" in page

    clock.move_to(START)
    maintenance_jobs.run_due()
    page = client.get("/").content.decode()
    assert "Maintenance in progress" in page
    assert page.index("Maintenance in progress") < page.index('id="components-title"')
    assert "Service Under Maintenance" in page
    assert "Under maintenance" in page  # the component
    assert "Scheduled maintenance is currently in progress" in page

    detail = client.get(maintenance.get_absolute_url()).content.decode()
    assert "Scheduled maintenance" in detail
    assert "impact</span>" not in detail  # no severity / impact pill
    assert "Point person" not in detail
    assert "In progress" in detail

    clock.move_to(END)
    maintenance_jobs.run_due()
    history = client.get("/history").content.decode()
    assert f'data-maintenance="{maintenance.key}"' in history
    assert "Completed" in history
    page = client.get("/").content.decode()
    assert "Maintenance in progress" not in page
    assert "Scheduled maintenance" not in page


def test_feeds_include_maintenance_entries(client, clock):
    maintenance = schedule()
    clock.move_to(START)
    maintenance_jobs.run_due()
    atom = client.get("/history.atom").content.decode()
    assert f"{maintenance.key} Catalyst upgrade — Maintenance scheduled" in atom
    assert f"{maintenance.key} Catalyst upgrade — Maintenance in progress" in atom


def test_internal_maintenance_and_reminders_never_reach_public_urls(client, clock, settings):
    from incidents.tests.factories import PUBLIC_JSON_PATHS

    catalyst = make_component("Catalyst", slug="catalyst")
    public = schedule(components=[catalyst])
    paths = [*PUBLIC_JSON_PATHS, "/", "/history", "/history.atom", "/history.rss", public.get_absolute_url()]
    secret = schedule(title="Secret vault migration", visibility=Visibility.INTERNAL, components=[catalyst])
    clock.move_to(START - timedelta(minutes=30))
    assert maintenance_jobs.run_due()["reminded"] == 2
    for path in paths:
        body = client.get(path).content.decode()
        assert "Secret vault" not in body, path
        assert "Reminder" not in body, path
    assert client.get(secret.get_absolute_url()).status_code == 404


# -- admin ---------------------------------------------------------------------------------------------------
def test_staff_schedule_and_edit_a_maintenance_in_admin_and_filter_by_kind(staff_client, clock):
    from django.urls import reverse

    from incidents.tests.factories import admin_form_data

    make_incident("Login fails")
    start, end = T0 + timedelta(days=1), T0 + timedelta(days=1, hours=3)
    data = admin_form_data(
        title="Database upgrade",
        kind=Kind.MAINTENANCE,
        status=Status.SCHEDULED,
        scheduled_for_0=start.strftime("%Y-%m-%d"),
        scheduled_for_1=start.strftime("%H:%M:%S"),
        scheduled_until_0=end.strftime("%Y-%m-%d"),
        scheduled_until_1=end.strftime("%H:%M:%S"),
        auto_start="on",
    )
    response = staff_client.post(reverse("admin:incidents_incident_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    maintenance = Incident.objects.get(kind=Kind.MAINTENANCE)
    assert (maintenance.scheduled_for, maintenance.scheduled_until) == (start, end)
    assert maintenance.auto_start
    assert not maintenance.auto_complete
    assert maintenance.updates.get().source == Source.ADMIN

    bad = dict(data, title="Backwards", scheduled_until_0=data["scheduled_for_0"], scheduled_until_1="00:00:00")
    response = staff_client.post(reverse("admin:incidents_incident_add"), bad)
    assert response.status_code == 200
    assert "The maintenance must end after it starts." in response.content.decode()

    changelist = reverse("admin:incidents_incident_changelist")
    listed = staff_client.get(changelist, {"kind__exact": "maintenance"}).content.decode()
    assert "Database upgrade" in listed
    assert "Login fails" not in listed

    later = end + timedelta(hours=1)
    edit = admin_form_data(
        maintenance,
        kind=Kind.INCIDENT,  # ignored: the kind is chosen once
        scheduled_for_0=start.strftime("%Y-%m-%d"),
        scheduled_for_1=start.strftime("%H:%M:%S"),
        scheduled_until_0=later.strftime("%Y-%m-%d"),
        scheduled_until_1=later.strftime("%H:%M:%S"),
        auto_start="on",
        update_message="Extended by an hour",
    )
    change_url = reverse("admin:incidents_incident_change", args=[maintenance.pk])
    response = staff_client.post(change_url, edit)
    assert response.status_code == 302, response.content.decode()[:3000]
    maintenance.refresh_from_db()
    assert maintenance.kind == Kind.MAINTENANCE
    assert maintenance.scheduled_until == later
    row = maintenance.updates.order_by("-number").first()
    assert row.changes == {"scheduled_until": [end.isoformat(), later.isoformat()]}
    assert row.message == "Extended by an hour"


def test_each_move_names_its_subscriber_event(clock):
    from incidents.selectors import maintenance_event

    maintenance = schedule()
    kw = {"incident_id": maintenance.pk, "author": "U0OPS", "source": Source.SLACK}
    services.incident_add_note(message="internal", **kw)
    services.incident_update(message="Plan unchanged", **kw)
    clock.move_to(START)
    maintenance_jobs.run_due()
    services.maintenance_transition(status=Status.VERIFYING, **kw)
    services.maintenance_transition(status=Status.COMPLETED, **kw)
    maintenance.refresh_from_db()
    events = [maintenance_event(maintenance, r) for r in rows(maintenance)]
    assert events == [
        "maintenance.scheduled",
        None,
        None,
        "maintenance.started",
        None,
        "maintenance.completed",
    ]
    secret = schedule(visibility=Visibility.INTERNAL)
    assert maintenance_event(secret, rows(secret)[0]) is None
    incident = make_incident()
    assert maintenance_event(incident, rows(incident)[0]) is None
