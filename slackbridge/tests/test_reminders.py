"""Reminders in the thread (SPEC §9), against the strict fake Slack with a controlled clock.

Each reminder fires once when its window ends, not a second earlier, not twice, and not once
its cause has cleared; snooze and the "Who is point?" picker go through signed interaction
payloads like Slack's.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured

from incidents import services
from incidents.models import Incident, IncidentUpdate, Source, Visibility
from slackbridge import reminders
from slackbridge.models import MessageKind, Reminder, SlackMessage
from slackbridge.tests.fakeslack import DEFAULT_CHANNEL
from slackbridge.tests.slack_requests import fixture, for_incident, send_command, send_interaction
from slackbridge.tests.syncutil import run_worker

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def at(moment: datetime):
    return time_machine.travel(moment, tick=False)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def open_incident(**kwargs) -> Incident:
    """An incident created at T0 whose headline is in Slack."""
    kwargs.setdefault("severity", "sev-1")
    kwargs.setdefault("author", "U0REPORTER")
    with at(T0):
        incident = services.incident_create(title="Marketplace down", source=Source.SLACK, **kwargs)
        run_worker()
    return incident


def thread(fake, incident) -> list[dict]:
    head = SlackMessage.objects.get(incident=incident, kind=MessageKind.HEADLINE)
    return fake.replies(DEFAULT_CHANNEL, head.ts)


def run_at(moment: datetime) -> dict:
    with at(moment):
        return reminders.run_due()


# -- no public update ---------------------------------------------------------------------------------------
def test_update_reminder_fires_once_at_its_time_and_restarts_after_an_update(fake_slack):
    incident = open_incident(point="U0POINT")
    assert run_at(minutes(29.99))["sent"] == 0
    assert thread(fake_slack, incident) == []

    assert run_at(minutes(30))["sent"] == 1
    (post,) = thread(fake_slack, incident)
    assert post["text"].startswith(":alarm_clock: <@U0POINT> ")
    assert f"`/update-incident {incident.key} <message>`" in post["text"]
    actions = post["blocks"][-1]["elements"]
    assert [(a["text"]["text"], a["action_id"], a["value"]) for a in actions] == [
        ("Post update", "incident_update", str(incident.pk)),
        ("Snooze 30 min", "reminder_snooze", str(incident.pk)),
    ]
    row = IncidentUpdate.objects.filter(incident=incident).order_by("-number").first()
    assert (row.source, row.author, row.visibility) == ("system", "crashbot", Visibility.INTERNAL)
    assert row.message == "Reminder: no public update for 30m."
    assert row.changes == {"reminder": [None, "update"]}

    assert run_at(minutes(30.5))["sent"] == 0  # once per window
    with at(minutes(31)):
        run_worker()  # the thread sync runs after the reminder's row: it must not post that row again
    assert len(thread(fake_slack, incident)) == 1

    with at(minutes(40)):
        services.incident_update(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="Looking")
        run_worker()
    assert run_at(minutes(69.99))["sent"] == 0  # the update started a new window
    assert run_at(minutes(70))["sent"] == 1
    assert Reminder.objects.filter(incident=incident, kind="update").count() == 2


def test_post_update_button_of_a_reminder_opens_the_update_form(client, fake_slack):
    incident = open_incident(point="U0POINT")
    run_at(minutes(30))
    (post,) = thread(fake_slack, incident)
    button = post["blocks"][-1]["elements"][0]
    payload = for_incident(fixture("headline_update_click"), incident.pk)
    action = payload["actions"][0]
    action.update(action_id=button["action_id"], value=button["value"], block_id=f"reminder:{incident.pk}")
    payload["trigger_id"] = fake_slack.new_trigger()
    fake_slack.reset_calls()
    assert send_interaction(client, payload).status_code == 200
    (call,) = fake_slack.calls
    assert call.method == "views.open"
    assert call.params["view"]["private_metadata"] == str(incident.pk)


def test_update_reminder_repeats_each_window_while_nobody_posts(fake_slack):
    open_incident(point="U0POINT")
    assert run_at(minutes(30))["sent"] == 1
    assert run_at(minutes(59))["sent"] == 0
    assert run_at(minutes(60))["sent"] == 1


def test_internal_note_is_not_a_public_update_but_counts_for_internal_incidents(fake_slack):
    public = open_incident(point="U0POINT")
    internal = open_incident(point="U0POINT", visibility=Visibility.INTERNAL)
    with at(minutes(20)):
        for incident in (public, internal):
            services.incident_add_note(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="hm")
    with at(minutes(30)):
        due = {d.incident.pk for d in reminders.due_reminders()}
    assert due == {public.pk}
    assert run_at(minutes(50))["sent"] == 2  # the internal one 30 min after its note
    (post,) = [p for p in thread(fake_slack, internal) if p.get("blocks")]
    assert "no update for 30m" in post["text"]


def test_no_reminder_after_the_cause_clears_or_for_severities_without_one(fake_slack):
    resolved = open_incident(point="U0POINT")
    quiet = open_incident(point="U0POINT", severity="sev-4")
    with at(minutes(10)):
        services.incident_resolve(incident_id=resolved.pk, author="U0POINT", source=Source.SLACK)
        run_worker()
    assert run_at(minutes(24 * 60))["sent"] == 0
    assert [p for p in thread(fake_slack, resolved) if p.get("blocks")] == []
    assert thread(fake_slack, quiet) == []


def test_no_reminder_without_a_headline_in_slack(fake_slack):
    with at(T0):
        services.incident_create(title="Not in Slack yet", author="U0REPORTER", source=Source.SLACK, severity="sev-1")
    assert run_at(minutes(120)) == {"outcome": "done", "sent": 0, "skipped": 0}


def test_reporter_is_asked_when_there_is_no_point_person(fake_slack, settings):
    settings.REMINDER_UNASSIGNED_MINUTES = 600
    incident = open_incident()
    run_at(minutes(30))
    (post,) = thread(fake_slack, incident)
    assert post["text"].startswith(":alarm_clock: <@U0REPORTER> ")


# -- snooze -------------------------------------------------------------------------------------------------
def test_snooze_button_quiets_the_incident_for_30_minutes(client, fake_slack):
    incident = open_incident(point="U0POINT")
    other = open_incident(point="U0POINT")
    assert run_at(minutes(30))["sent"] == 2
    posts_before = len(fake_slack.calls_to("chat.postMessage"))
    with at(minutes(32)):
        response = send_interaction(client, for_incident(fixture("reminder_snooze_click"), incident.pk))
    assert response.status_code == 200
    assert len(fake_slack.calls_to("chat.postMessage")) == posts_before  # no Slack call on the request path
    row = IncidentUpdate.objects.filter(incident=incident).order_by("-number").first()
    assert (row.source, row.author, row.visibility) == ("system", "crashbot", Visibility.INTERNAL)
    assert row.message == "Reminders snoozed for 30 min (until 10:02 UTC) by @someone."

    # Without the snooze both would be due again at 60; only the other incident is (snoozes are per incident).
    with at(minutes(60)):
        assert {d.incident.pk for d in reminders.due_reminders()} == {other.pk}
    assert run_at(minutes(61))["sent"] == 1
    assert run_at(minutes(61.99))["sent"] == 0
    assert run_at(minutes(62))["sent"] == 1
    assert Reminder.objects.filter(incident=incident).count() == 2
    assert Reminder.objects.filter(incident=other).count() == 2
    with at(minutes(63)):
        run_worker()
    texts = [r["text"] for r in thread(fake_slack, incident)]
    assert sum("snoozed" in t for t in texts) == 1  # the snooze row reaches the thread once, via the sync


# -- no point person ----------------------------------------------------------------------------------------
def test_who_is_point_fires_at_15_minutes_and_the_picker_assigns(client, fake_slack, settings):
    settings.REMINDER_UPDATE_MINUTES = ""
    incident = open_incident(severity="sev-2")
    assert run_at(minutes(14.99))["sent"] == 0
    assert run_at(minutes(15))["sent"] == 1
    (post,) = thread(fake_slack, incident)
    assert "*Who is point?*" in post["blocks"][0]["text"]["text"]
    picker, snooze = post["blocks"][-1]["elements"]
    assert (picker["type"], picker["action_id"]) == ("users_select", "reminder_assign_point")
    assert snooze["action_id"] == "reminder_snooze"
    assert post["blocks"][-1]["block_id"] == f"reminder_assign:{incident.pk}"

    payload = fixture("reminder_assign_point_select")
    payload["actions"][0]["block_id"] = f"reminder_assign:{incident.pk}"
    with at(minutes(16)):
        assert send_interaction(client, payload).status_code == 200
    incident.refresh_from_db()
    assert incident.point == "U0POINT"
    assert incident.acknowledged_at == minutes(16)
    last = incident.updates.order_by("-number").first()
    assert (last.author, last.source, last.changes["point"]) == ("U0REPORTER", "slack", ["", "U0POINT"])
    assert run_at(minutes(60))["sent"] == 0  # cleared: someone is point


def test_who_is_point_only_for_sev_1_to_3_and_again_after_point_is_removed(fake_slack, settings):
    settings.REMINDER_UPDATE_MINUTES = ""
    minor = open_incident(severity="sev-4")
    assigned = open_incident(severity="sev-3", point="U0POINT")
    assert run_at(minutes(30))["sent"] == 0
    with at(minutes(40)):
        services.incident_update(incident_id=assigned.pk, point="", author="U0POINT", source=Source.SLACK)
    assert run_at(minutes(54.99))["sent"] == 0
    assert run_at(minutes(55))["sent"] == 1
    assert not Reminder.objects.filter(incident=minor).exists()


def test_bad_point_pick_changes_nothing(client, fake_slack):
    incident = open_incident(severity="sev-2")
    payload = fixture("reminder_assign_point_select")
    payload["actions"][0]["block_id"] = f"reminder_assign:{incident.pk}"
    payload["actions"][0]["selected_user"] = "not-a-user"
    before = incident.updates.count()
    assert send_interaction(client, payload).status_code == 200
    payload["actions"][0]["block_id"] = "reminder_assign:999999"
    assert send_interaction(client, payload).status_code == 200
    incident.refresh_from_db()
    assert (incident.point, incident.updates.count()) == ("", before)


# -- RCA due ------------------------------------------------------------------------------------------------
def test_rca_reminder_after_five_days_and_the_rca_list(client, fake_slack, settings):
    settings.PUBLIC_BASE_URL = "https://status.example.com"
    incident = open_incident(point="U0POINT", severity="sev-2")
    minor = open_incident(point="U0POINT", severity="sev-3")
    closed = minutes(60)
    with at(closed):
        for i in (incident, minor):
            services.incident_resolve(incident_id=i.pk, author="U0POINT", source=Source.SLACK)
        run_worker()
    with at(closed + timedelta(days=2)):
        body = send_command(client, "incidents_rca").json()
    assert incident.key in body["text"]
    assert "due in 3d 0h" in body["text"]
    assert minor.key not in body["text"]

    assert run_at(closed + timedelta(days=5) - timedelta(seconds=1))["sent"] == 0
    assert run_at(closed + timedelta(days=5))["sent"] == 1
    post = [p for p in thread(fake_slack, incident) if p.get("blocks")][-1]
    assert post["text"].startswith(":memo: <@U0POINT> ")
    assert f"`/update-incident {incident.key} rca <url>`" in post["text"]
    assert [a["action_id"] for a in post["blocks"][-1]["elements"]] == ["incident_postmortem", "reminder_snooze"]
    assert run_at(closed + timedelta(days=5, hours=1))["sent"] == 0
    assert run_at(closed + timedelta(days=10))["sent"] == 1
    assert run_at(closed + timedelta(days=15))["sent"] == 1
    assert run_at(closed + timedelta(days=20))["sent"] == 0  # three reminders at most; the list keeps it

    with at(closed + timedelta(days=21)):
        assert "overdue by 16d 0h" in send_command(client, "incidents_rca").json()["text"]
        services.incident_set_rca_link(
            incident_id=incident.pk, rca_link="https://wiki.example.com/rca", author="U0POINT", source=Source.SLACK
        )
        assert "No RCA is due" in send_command(client, "incidents_rca").json()["text"]
    assert run_at(closed + timedelta(days=30))["sent"] == 0


# -- settings -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("sev-1:30,sev-2:60,sev-3:240", {"sev-1": 30, "sev-2": 60, "sev-3": 240}),
        (" SEV-1 : 5 , ", {"sev-1": 5}),
        ("", {}),
    ],
)
def test_update_minutes_parse(value, expected):
    assert reminders.parse_severity_minutes(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("sev-1=30", "is not `<severity>:<minutes>`"),
        ("sev-9:30", "is not `<severity>:<minutes>`"),
        ("sev-1:0", "whole number of minutes"),
        ("sev-1:half", "whole number of minutes"),
    ],
)
def test_bad_update_minutes_stop_start_up_with_the_reason(settings, value, message):
    settings.REMINDER_UPDATE_MINUTES = value
    with pytest.raises(ImproperlyConfigured, match="REMINDER_UPDATE_MINUTES") as err:
        reminders.check_settings()
    assert message in str(err.value)


@pytest.mark.parametrize("name", ["REMINDER_UNASSIGNED_MINUTES", "RCA_DUE_DAYS", "CHANNEL_ARCHIVE_DAYS"])
def test_bad_numbers_stop_start_up(settings, name):
    setattr(settings, name, 0)
    with pytest.raises(ImproperlyConfigured, match=name):
        reminders.check_settings()


# -- privacy ------------------------------------------------------------------------------------------------
PUBLIC_PATHS = ("/api/v2/incidents.json", "/api/v2/summary.json", "/history.atom", "/history.rss", "/")


def test_reminders_and_snoozes_never_reach_a_public_surface(client, fake_slack):
    incident = open_incident(point="U0POINT")
    paths = (*PUBLIC_PATHS, f"/incidents/{incident.key}")

    def bodies():  # the page embeds its ETag, derived from every row by design (selectors.public_version_stamp)
        return {p: re.sub(rb'data-etag="[^"]*"', b"", client.get(p).content) for p in paths}

    with at(minutes(29)):
        before = bodies()
    run_at(minutes(30))
    with at(minutes(29)):
        send_interaction(client, for_incident(fixture("reminder_snooze_click"), incident.pk))
        after = bodies()
    assert IncidentUpdate.objects.filter(incident=incident, source="system").count() == 2
    for path in paths:
        assert after[path] == before[path], path
        assert b"Reminder" not in after[path]
        assert b"snoozed" not in after[path]
