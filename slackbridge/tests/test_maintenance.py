"""Scheduled maintenance through Slack (SPEC §8): signed `/maintenance` and `/update-incident` commands,
the worker's job under a controlled clock, the real task worker and the fake Slack, and the public JSON."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from incidents import maintenance_jobs
from incidents.models import Incident, IncidentUpdate, Kind, Source, Status, Visibility
from incidents.tests.factories import make_component, make_incident
from slackbridge.blocks.messages import ALL_CLEAR_TOPIC
from slackbridge.maintenance_grammar import MaintenanceTextError, parse_duration, parse_maintenance
from slackbridge.models import MessageKind, SlackMessage
from slackbridge.tests.fakeslack import DEFAULT_CHANNEL
from slackbridge.tests.slack_requests import fixture, for_incident, send_command, send_interaction, set_state
from slackbridge.tests.syncutil import run_worker

T0 = datetime(2026, 12, 5, 11, 0, tzinfo=UTC)
START = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
END = START + timedelta(hours=2)


def reply_text(response) -> str:
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    return body["text"]


def maintenance_command(client, text: str):
    return send_command(client, "maintenance_one_line", text=text)


def update_command(client, text: str):
    return send_command(client, "update_incident_one_line", text=text)


def headline(fake, incident) -> dict:
    row = SlackMessage.objects.get(incident=incident, kind=MessageKind.HEADLINE)
    return fake.message(DEFAULT_CHANNEL, row.ts)


def thread(fake, incident) -> list[str]:
    row = SlackMessage.objects.get(incident=incident, kind=MessageKind.HEADLINE)
    return [m["text"] for m in fake.replies(DEFAULT_CHANNEL, row.ts)]


def v2(client, path: str) -> dict:
    response = client.get(f"/api/v2/{path}")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=True) as traveller:
        yield traveller


# -- the whole life, end to end ------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_scheduled_reminded_started_completed_through_slack_and_the_worker(client, fake_slack, clock, settings):
    settings.MAINTENANCE_REMINDER_MINUTES = 60
    make_component("Catalyst", slug="catalyst")
    make_incident("Login slow", severity="sev-3")

    text = reply_text(maintenance_command(client, "2026-12-05 14:00 2h Catalyst upgrade +catalyst"))
    maintenance = Incident.objects.get(kind=Kind.MAINTENANCE)
    assert f"Scheduled *<http://testserver/incidents/{maintenance.key}|{maintenance.key}>* Catalyst upgrade" in text
    assert f"<!date^{int(START.timestamp())}^" in text
    assert "public; Catalyst" in text
    assert (maintenance.scheduled_for, maintenance.scheduled_until) == (START, END)
    assert maintenance.created_by == "U0OPS"

    run_worker()
    message = headline(fake_slack, maintenance)
    fields = " ".join(f["text"] for f in message["blocks"][1]["fields"])
    assert f"<!date^{int(START.timestamp())}^{{date_short_pretty}} {{time}}|2026-12-05 14:00 UTC>" in fields
    assert f"<!date^{int(END.timestamp())}^{{time}}|16:00 UTC>" in fields
    assert "Severity" not in fields
    assert "Scheduled" in fields
    assert "Catalyst" in fields
    topic = fake_slack.topic(DEFAULT_CHANNEL)
    assert maintenance.key not in topic  # not active yet: the topic lists open incidents only

    clock.move_to(START - timedelta(minutes=55))
    assert maintenance_jobs.run_due()["reminded"] == 1
    run_worker()
    [reminder] = thread(fake_slack, maintenance)
    assert "Reminder: this maintenance starts in 55 min" in reminder
    assert ":robot_face: *Crashbot*" in reminder

    clock.move_to(START + timedelta(seconds=20))
    assert maintenance_jobs.run_due()["started"] == 1
    run_worker()
    fields = " ".join(f["text"] for f in headline(fake_slack, maintenance)["blocks"][1]["fields"])
    assert "In progress" in fields
    assert "*Started*" in fields
    assert "currently in progress" in thread(fake_slack, maintenance)[-1]
    lines = fake_slack.topic(DEFAULT_CHANNEL).split("\n")
    assert lines[0].startswith(":three: DCL-")  # incidents first
    assert lines[-1] == f":wrench: {maintenance.key} Catalyst upgrade"
    assert [m["id"] for m in v2(client, "scheduled-maintenances/active.json")["scheduled_maintenances"]] == [
        maintenance.key
    ]
    catalyst = next(c for c in v2(client, "components.json")["components"] if c["id"] == "catalyst")
    assert catalyst["status"] == "under_maintenance"

    clock.move_to(END + timedelta(seconds=20))
    assert maintenance_jobs.run_due()["completed"] == 1
    run_worker()
    assert "Completed" in " ".join(f["text"] for f in headline(fake_slack, maintenance)["blocks"][1]["fields"])
    assert maintenance.key not in fake_slack.topic(DEFAULT_CHANNEL)
    assert v2(client, "scheduled-maintenances/active.json")["scheduled_maintenances"] == []
    [done] = v2(client, "scheduled-maintenances.json")["scheduled_maintenances"]
    assert (done["id"], done["status"]) == (maintenance.key, "completed")
    catalyst = next(c for c in v2(client, "components.json")["components"] if c["id"] == "catalyst")
    assert catalyst["status"] == "operational"
    # Each step exactly once: rows 1 (scheduled), 2 (reminder), 3 (started), 4 (completed).
    assert [(r.source, r.status) for r in IncidentUpdate.objects.filter(incident=maintenance).order_by("number")] == [
        (Source.SLACK, Status.SCHEDULED),
        (Source.SYSTEM, Status.SCHEDULED),
        (Source.SYSTEM, Status.IN_PROGRESS),
        (Source.SYSTEM, Status.COMPLETED),
    ]


@pytest.mark.django_db(transaction=True)
def test_worker_down_across_the_start_starts_once_when_back(client, fake_slack, clock):
    reply_text(maintenance_command(client, "2026-12-05 14:00 90m Catalyst upgrade"))
    maintenance = Incident.objects.get()
    run_worker()
    clock.move_to(START + timedelta(minutes=40))  # the worker was down from before the reminder until now
    assert maintenance_jobs.run_due() == {"reminded": 0, "started": 1, "completed": 0}
    assert maintenance_jobs.run_due() == {"reminded": 0, "started": 0, "completed": 0}
    run_worker()
    assert fake_slack.topic(DEFAULT_CHANNEL) == f":wrench: {maintenance.key} Catalyst upgrade"
    assert len(thread(fake_slack, maintenance)) == 1  # the start, no late reminder


@pytest.mark.django_db(transaction=True)
def test_cancel_leaves_public_lists_and_tells_slack(client, fake_slack, clock):
    reply_text(maintenance_command(client, "2026-12-05 14:00 2h Catalyst upgrade"))
    maintenance = Incident.objects.get()
    text = reply_text(update_command(client, f"{maintenance.key} cancel"))
    assert "now *cancelled*" in text
    run_worker()
    assert "Cancelled" in " ".join(f["text"] for f in headline(fake_slack, maintenance)["blocks"][1]["fields"])
    assert fake_slack.topic(DEFAULT_CHANNEL) == ALL_CLEAR_TOPIC
    for path in ("scheduled-maintenances.json", "scheduled-maintenances/upcoming.json", "summary.json"):
        assert v2(client, path)["scheduled_maintenances"] == []
    clock.move_to(START + timedelta(minutes=1))
    assert maintenance_jobs.run_due() == {"reminded": 0, "started": 0, "completed": 0}


# -- /update-incident words ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_update_words_move_a_maintenance_and_only_alone(client, fake_slack, clock):
    reply_text(maintenance_command(client, "2026-12-05 14:00 2h Catalyst upgrade"))
    maintenance = Incident.objects.get()
    key = maintenance.key
    assert "now *in_progress*" in reply_text(update_command(client, f"{key} start"))
    reply_text(update_command(client, f"{key} Start of the migration went fine"))
    maintenance.refresh_from_db()
    assert maintenance.status == Status.IN_PROGRESS
    assert maintenance.updates.order_by("-number").first().message == "Start of the migration went fine"
    assert "now *verifying*" in reply_text(update_command(client, f"{key} verify"))
    assert "now *completed*" in reply_text(update_command(client, f"{key} complete"))
    text = reply_text(update_command(client, f"{key} cancel"))
    assert "completed; from there it can go to nowhere" in text
    incident = make_incident("Login slow")
    text = reply_text(update_command(client, f"{incident.key} start"))
    assert "is an incident, not a maintenance" in text
    reply_text(update_command(client, f"{incident.key} Completed the failover"))
    incident.refresh_from_db()
    assert incident.status == Status.INVESTIGATING  # a maintenance word starting a message is a message


@pytest.mark.django_db
def test_help_lists_maintenance_forms(client, fake_slack):
    text = reply_text(maintenance_command(client, "help"))
    assert "/maintenance [internal:] &lt;start&gt; &lt;duration|end&gt; &lt;title&gt;" in text
    text = reply_text(update_command(client, "help"))
    assert "start|verify|complete|cancel" in text


# -- bad input -----------------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("2026-12-05 14:00", "how long it lasts"),
        ("soon 2h Upgrade", "is not a start time"),
        ("2026-12-05 14:00 forever Upgrade", "neither a duration"),
        ("2026-12-05 14:00 2h", "needs a title"),
        ("2026-12-05 25:00 2h Upgrade", "not a start time"),
        ("2026-02-30 14:00 2h Upgrade", "not a start time"),
        ("2026-12-05 14:00 40d Upgrade", "at most 31 days"),
        ("2026-12-01 09:00 2h Upgrade", "The start is in the past"),
        ("2026-12-05 14:00 2h Upgrade +nosuch", "`nosuch` is not a component"),
    ],
)
def test_bad_lines_say_what_is_wrong_and_change_nothing(client, fake_slack, clock, text, words):
    make_component("Catalyst", slug="catalyst")
    reply = reply_text(maintenance_command(client, text))
    assert words in reply
    assert "You typed: `/maintenance" in reply
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_no_text_opens_the_form_and_its_submission_schedules(client, fake_slack, clock):
    make_component("Catalyst", slug="catalyst")
    data = fixture("maintenance_no_text")
    data["trigger_id"] = fake_slack.new_trigger()
    response = send_command(client, "maintenance_no_text", trigger_id=data["trigger_id"])
    assert response.status_code == 200
    [opened] = fake_slack.calls_to("views.open")
    view = opened.params["view"]
    view = view if isinstance(view, dict) else json.loads(view)
    assert view["callback_id"] == "schedule_maintenance"
    assert {b["block_id"] for b in view["blocks"]} >= {"title", "scheduled_for", "scheduled_until", "duration"}

    payload = fixture("maintenance_modal_submission")
    response = send_interaction(client, payload)
    assert response.status_code == 200
    assert response.json()["response_action"] == "update"
    maintenance = Incident.objects.get()
    assert (maintenance.scheduled_for, maintenance.scheduled_until) == (START, START + timedelta(minutes=90))
    assert (maintenance.auto_start, maintenance.auto_complete) == (True, True)
    assert maintenance.visibility == Visibility.PUBLIC


@pytest.mark.django_db
def test_form_errors_stay_on_their_fields(client, fake_slack, clock):
    payload = set_state(fixture("maintenance_modal_submission"), "duration", value="ages")
    body = send_interaction(client, payload).json()
    assert body == {"response_action": "errors", "errors": {"duration": "Write a duration like 90m, 2h or 1h30m."}}
    payload = set_state(fixture("maintenance_modal_submission"), "scheduled_for", selected_date_time=1)
    body = send_interaction(client, payload).json()
    assert "in the past" in body["errors"]["scheduled_for"]
    assert not Incident.objects.exists()


# -- the pure grammar ----------------------------------------------------------------------------------------
def test_grammar_reads_zones_durations_and_end_times():
    from zoneinfo import ZoneInfo

    madrid = ZoneInfo("Europe/Madrid")
    today = datetime(2026, 12, 1).date()
    line = parse_maintenance("2026-12-05 14:00 90m Catalyst upgrade +catalyst +builder", tz=madrid, today=today)
    assert line.scheduled_for == datetime(2026, 12, 5, 13, 0, tzinfo=UTC)
    assert line.scheduled_until == datetime(2026, 12, 5, 14, 30, tzinfo=UTC)
    assert line.component_slugs == ("catalyst", "builder")
    assert line.title == "Catalyst upgrade"
    iso = parse_maintenance("2026-12-05T14:00+01:00 2026-12-05T16:30Z DB +50% faster", tz=UTC, today=today)
    assert iso.scheduled_for == datetime(2026, 12, 5, 13, 0, tzinfo=UTC)
    assert iso.scheduled_until == datetime(2026, 12, 5, 16, 30, tzinfo=UTC)
    assert iso.title == "DB +50% faster"
    overnight = parse_maintenance("internal: tomorrow 23:00 01:30 Vault move", tz=UTC, today=today)
    assert overnight.internal
    assert overnight.scheduled_for == datetime(2026, 12, 2, 23, 0, tzinfo=UTC)
    assert overnight.scheduled_until == datetime(2026, 12, 3, 1, 30, tzinfo=UTC)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("0m") is None
    with pytest.raises(MaintenanceTextError, match="end after it starts"):
        parse_maintenance("2026-12-05T14:00Z 2026-12-05T13:00Z Oops", tz=UTC, today=today)


# -- buttons, the update form, the command's name ------------------------------------------------------------
def click(client, incident, action_id: str):
    payload = for_incident(fixture("maintenance_start_click"), incident.pk)
    payload["actions"][0]["action_id"] = action_id
    return send_interaction(client, payload)


@pytest.mark.django_db
def test_headline_buttons_follow_the_status_and_move_it_once(client, fake_slack, clock):
    from slackbridge.blocks.messages import headline as build_headline

    reply_text(maintenance_command(client, "2026-12-05 14:00 2h Catalyst upgrade"))
    maintenance = Incident.objects.get()

    def button_ids() -> list[str]:
        maintenance.refresh_from_db()
        return [b["action_id"] for b in build_headline(maintenance, components=[])["blocks"][-1]["elements"]]

    assert button_ids() == ["maintenance_start", "incident_update", "maintenance_cancel"]
    assert click(client, maintenance, "maintenance_start").status_code == 200
    assert click(client, maintenance, "maintenance_start").status_code == 200  # a stale second click
    assert button_ids() == ["maintenance_complete", "incident_update"]
    assert [r.status for r in maintenance.updates.order_by("number")] == ["scheduled", "in_progress"]
    assert maintenance.updates.order_by("number").last().author == "U0OPS"
    click(client, maintenance, "maintenance_complete")
    assert button_ids() == ["incident_update"]
    incident = make_incident("Login slow")
    click(client, incident, "maintenance_complete")
    incident.refresh_from_db()
    assert incident.status == Status.INVESTIGATING


@pytest.mark.django_db
def test_update_form_of_a_maintenance_edits_its_window(client, fake_slack, clock):
    from slackbridge.blocks import modals

    reply_text(maintenance_command(client, "2026-12-05 14:00 2h Catalyst upgrade"))
    maintenance = Incident.objects.get()
    view = modals.update_modal(incident=maintenance, components=[], component_ids=[])
    ids = [b.get("block_id") for b in view["blocks"]]
    assert "severity" not in ids
    assert "rca_link" not in ids
    assert {"scheduled_for", "scheduled_until", "status"} <= set(ids)
    status_values = [
        o["value"] for b in view["blocks"] if b.get("block_id") == "status" for o in b["element"]["options"]
    ]
    assert status_values == ["scheduled", "in_progress", "verifying", "completed", "cancelled"]

    payload = fixture("update_incident_modal_submission")
    payload["view"]["private_metadata"] = str(maintenance.pk)
    values = {
        "title": {"type": "plain_text_input", "value": "Catalyst upgrade"},
        "status": {"type": "static_select", "selected_option": {"value": "scheduled"}},
        "scheduled_for": {"type": "datetimepicker", "selected_date_time": int(START.timestamp())},
        "scheduled_until": {
            "type": "datetimepicker",
            "selected_date_time": int((END + timedelta(hours=1)).timestamp()),
        },
        "message": {"type": "plain_text_input", "value": "One more hour"},
    }
    payload["view"]["blocks"] = view["blocks"]
    payload["view"]["state"] = {"values": {k: {k: v} for k, v in values.items()}}
    body = send_interaction(client, payload).json()
    assert body["response_action"] == "update", body
    maintenance.refresh_from_db()
    assert maintenance.scheduled_until == END + timedelta(hours=1)
    assert maintenance.updates.order_by("number").last().changes == {
        "scheduled_until": [END.isoformat(), (END + timedelta(hours=1)).isoformat()]
    }


@pytest.mark.django_db
def test_the_command_name_is_a_setting(client, fake_slack, clock, settings):
    from slackbridge.management.commands.slack_manifest import build_manifest

    settings.SLACK_MAINTENANCE_COMMAND = "/planned-work"
    manifest = build_manifest(url="https://crashbot.example.com", name="Crashbot", socket_mode=False)
    assert "/planned-work" in [c["command"] for c in manifest["features"]["slash_commands"]]
    text = reply_text(send_command(client, "maintenance_one_line", command="/planned-work", text="help"))
    assert "*/planned-work* — Schedule maintenance" in text
    assert "does not know" in reply_text(send_command(client, "maintenance_one_line", text="help"))
