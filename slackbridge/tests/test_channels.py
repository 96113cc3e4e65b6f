"""A channel per incident (SPEC §9) and the postmortem upload, against the strict fake Slack."""

import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from incidents import services
from incidents.models import Incident, Source, Status
from incidents.postmortem import postmortem_draft
from slackbridge import channels
from slackbridge import client as slack_api
from slackbridge.channels import channel_name
from slackbridge.client import SlackCallError
from slackbridge.models import IncidentChannel, MessageKind, SlackMessage
from slackbridge.tests.fakeslack import BOT_USER_ID, DEFAULT_CHANNEL
from slackbridge.tests.slack_requests import fixture, for_incident, send_command, send_interaction
from slackbridge.tests.syncutil import run_worker

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def at(moment: datetime):
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def slack(fake_slack, settings):
    settings.PUBLIC_BASE_URL = "https://status.example.com"
    fake_slack.add_user("U0REPORTER", "Rita Reporter")
    return fake_slack


def open_incident(title="Marketplace down: listings empty", **kwargs) -> Incident:
    with at(T0):
        incident = services.incident_create(
            title=title,
            author="U0REPORTER",
            source=Source.SLACK,
            severity="sev-1",
            point="U0POINT",
            contact="U0CONTACT",
            **kwargs,
        )
        run_worker()
    return incident


def headline(fake, incident) -> dict:
    row = SlackMessage.objects.get(incident=incident, kind=MessageKind.HEADLINE)
    return fake.message(DEFAULT_CHANNEL, row.ts)


def fields(message: dict) -> list[str]:
    return [f["text"] for f in message["blocks"][1]["fields"]]


def action_ids(message: dict) -> list[str]:
    return [e["action_id"] for e in message["blocks"][-1]["elements"]]


def click_open_channel(client_, incident):
    return send_interaction(client_, for_incident(fixture("headline_open_channel_click"), incident.pk))


# -- names --------------------------------------------------------------------------------------------------
def test_channel_names_follow_slacks_rules():
    incident = Incident(pk=12, title="Marketplace DOWN: listings & búsqueda — 50% of users!")
    assert channel_name(incident) == "inc-dcl-12-marketplace-down-listings-busqueda-50-of-users"
    assert channel_name(incident, 3) == "inc-dcl-12-marketplace-down-listings-busqueda-50-of-users-3"
    long = Incident(pk=123456, title="word " * 40)
    for attempt in (1, 2, 19):
        name = channel_name(long, attempt)
        assert len(name) <= 80
        assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-_")
        assert not name.endswith("-") or attempt == 1
    assert channel_name(long, 2).endswith("-2")
    assert channel_name(Incident(pk=7, title="障害")) == "inc-dcl-7"


# -- the lifecycle ------------------------------------------------------------------------------------------
def test_open_channel_button_creates_invites_posts_bookmarks_and_links(client, slack):
    incident = open_incident()
    assert "incident_open_channel" in action_ids(headline(slack, incident))
    slack.reset_calls()
    with at(T0 + timedelta(minutes=5)):
        assert click_open_channel(client, incident).status_code == 200
        assert slack.calls == []  # the request path only records the ask
        assert IncidentChannel.objects.get(incident=incident).channel == ""
        run_worker()

    row = IncidentChannel.objects.get(incident=incident)
    name = f"inc-{incident.key.lower()}-marketplace-down-listings-empty"
    assert row.name == name
    cid, chan = slack.channel_by_name(name)
    assert row.channel == cid
    assert sorted(chan["members"]) == sorted([BOT_USER_ID, "U0POINT", "U0CONTACT", "U0REPORTER"])
    (summary,) = slack.messages(cid)
    text = summary["blocks"][0]["text"]["text"]
    head_row = SlackMessage.objects.get(incident=incident, kind=MessageKind.HEADLINE)
    assert f"https://crashbot-test.slack.com/archives/{DEFAULT_CHANNEL}/p{head_row.ts.replace('.', '')}" in text
    assert f"<https://status.example.com/incidents/{incident.key}|Incident page>" in text
    assert slack.bookmarks(cid) == [
        {
            "id": slack.bookmarks(cid)[0]["id"],
            "channel_id": cid,
            "title": f"{incident.key} incident page",
            "link": f"https://status.example.com/incidents/{incident.key}",
            "type": "link",
        }
    ]
    assert slack.topic(cid) == f"{incident.key} Marketplace down: listings empty · sev-1 · Investigating"
    head = headline(slack, incident)
    assert f"*Channel*\n<#{cid}>" in fields(head)
    assert "incident_open_channel" not in action_ids(head)

    # asking again changes nothing
    with at(T0 + timedelta(minutes=6)):
        assert click_open_channel(client, incident).status_code == 200
        run_worker()
    assert IncidentChannel.objects.filter(incident=incident).count() == 1
    assert len(slack.calls_to("conversations.create")) == 1


def test_name_taken_gets_a_suffix(client, slack):
    incident = open_incident()
    slack.add_channel("C0TAKEN", f"inc-{incident.key.lower()}-marketplace-down-listings-empty")
    with at(T0 + timedelta(minutes=5)):
        click_open_channel(client, incident)
        run_worker()
    assert IncidentChannel.objects.get(incident=incident).name.endswith("-listings-empty-2")
    refused = slack.calls_to("conversations.create")[0]
    assert refused.response == {"ok": False, "error": "name_taken"}


def test_commands_work_in_the_incident_channel_without_the_key(client, slack):
    incident = open_incident()
    with at(T0 + timedelta(minutes=5)):
        click_open_channel(client, incident)
        run_worker()
        cid = IncidentChannel.objects.get(incident=incident).channel
        reply = send_command(client, "update_incident_one_line", text="monitoring Fix deployed", channel_id=cid)
    assert reply.status_code == 200
    incident.refresh_from_db()
    assert incident.status == Status.MONITORING
    assert incident.updates.order_by("-number").first().message == "Fix deployed"
    # elsewhere the key is still needed
    elsewhere = send_command(client, "update_incident_one_line", text="monitoring again")
    assert "not an incident key" in elsewhere.json()["text"]


def test_archived_after_seven_days_and_a_reopened_incident_gets_a_fresh_channel(client, slack):
    incident = open_incident()
    with at(T0 + timedelta(minutes=5)):
        click_open_channel(client, incident)
        run_worker()
    first = IncidentChannel.objects.get(incident=incident)
    resolved = T0 + timedelta(hours=2)
    with at(resolved):
        services.incident_resolve(incident_id=incident.pk, author="U0POINT", source=Source.SLACK)
        run_worker()
    with at(resolved + timedelta(days=7) - timedelta(seconds=1)):
        assert channels.archive_due()["archived"] == 0
    with at(resolved + timedelta(days=7)):
        assert channels.archive_due() == {"outcome": "done", "archived": 1, "failed": 0}
        assert channels.archive_due()["archived"] == 0
        run_worker()
    assert slack.channel_by_name(first.name)[1]["is_archived"] is True
    assert not [f for f in fields(headline(slack, incident)) if f.startswith("*Channel*")]

    # Slack refuses unarchive to bot tokens, as documented; so reopening offers a fresh channel.
    with pytest.raises(SlackCallError) as refused:
        slack_api.worker_call("conversations.unarchive", channel=first.channel)
    assert refused.value.code == "method_not_supported_for_channel_type"
    with at(resolved + timedelta(days=8)):
        services.incident_reopen(incident_id=incident.pk, author="U0POINT", source=Source.SLACK)
        run_worker()
        assert "incident_open_channel" in action_ids(headline(slack, incident))
        reply = send_command(client, "update_incident_channel", text=f"{incident.key} channel").json()
        assert "Opening a channel" in reply["text"]
        run_worker()
    fresh = IncidentChannel.objects.get(incident=incident, archived_at__isnull=True)
    assert fresh.channel != first.channel
    assert fresh.name == first.name + "-2"
    assert f"*Channel*\n<#{fresh.channel}>" in fields(headline(slack, incident))


def test_posting_to_an_archived_channel_is_refused_by_the_fake(slack):
    slack.add_channel("C0OLD", "old-incident")
    slack.archive("C0OLD")
    with pytest.raises(SlackCallError) as err:
        slack_api.post_message(channel="C0OLD", text="hello")
    assert err.value.code == "is_archived"


def test_channel_command_replies_and_refusals(client, slack):
    incident = open_incident()
    first = send_command(client, "update_incident_channel", text=f"{incident.key} channel").json()["text"]
    assert "Opening a channel" in first
    again = send_command(client, "update_incident_channel", text=f"{incident.key} channel").json()["text"]
    assert "is being opened" in again
    with at(T0 + timedelta(minutes=1)):
        run_worker()
    cid = IncidentChannel.objects.get(incident=incident).channel
    done = send_command(client, "update_incident_channel", text=f"{incident.key} channel").json()["text"]
    assert f"already has its channel: <#{cid}>" in done
    # "channel" followed by words is a message, not the action
    send_command(client, "update_incident_channel", text=f"{incident.key} channel flapping again")
    assert incident.updates.order_by("-number").first().message == "channel flapping again"

    services.incident_resolve(incident_id=incident.pk, author="U0POINT", source=Source.SLACK)
    other = open_incident(title="Other")
    services.incident_resolve(incident_id=other.pk, author="U0POINT", source=Source.SLACK)
    refused = send_command(client, "update_incident_channel", text=f"{other.key} channel").json()["text"]
    assert "channels are for open incidents" in refused
    assert not IncidentChannel.objects.filter(incident=other).exists()


def test_a_transient_failure_during_set_up_keeps_the_channel_and_finishes_later(client, slack, settings):
    settings.SLACK_RETRY_ATTEMPTS = 1
    settings.SLACK_SYNC_BACKOFF = 0.01
    incident = open_incident()
    slack.http_error(500, method="bookmarks.add", times=1)
    click_open_channel(client, incident)
    run_worker()
    time.sleep(0.05)
    run_worker()  # the retry, if the first batch did not already run it
    row = IncidentChannel.objects.get(incident=incident)
    assert row.ready_at is not None
    assert [c.http_status for c in slack.calls_to("bookmarks.add")] == [500, 200]
    assert len(slack.calls_to("conversations.create")) == 1
    assert len(slack.bookmarks(row.channel)) == 1
    assert f"*Channel*\n<#{row.channel}>" in fields(headline(slack, incident))


def test_a_failed_create_gives_the_button_back(client, slack):
    incident = open_incident()
    slack.fail("conversations.create", "missing_scope")
    with at(T0 + timedelta(minutes=5)):
        click_open_channel(client, incident)
        run_worker()
    assert not IncidentChannel.objects.filter(incident=incident).exists()
    assert "incident_open_channel" in action_ids(headline(slack, incident))


def test_fake_enforces_channel_name_rules(slack):
    for name, error in [
        ("", "invalid_name_required"),
        ("x" * 81, "invalid_name_maxlength"),
        ("Upper-Case", "invalid_name_specials"),
        ("has space", "invalid_name_specials"),
        ("---", "invalid_name_punctuation"),
        ("incidents", "name_taken"),
    ]:
        with pytest.raises(SlackCallError) as err:
            slack_api.create_channel(name=name)
        assert err.value.code == error, name
    assert slack_api.create_channel(name="x" * 80)["name"] == "x" * 80


# -- the postmortem draft in the thread ---------------------------------------------------------------------
def test_postmortem_button_uploads_the_draft_in_documented_order(client, slack):
    incident = open_incident()
    with at(T0 + timedelta(hours=1)):
        services.incident_add_note(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="Secret")
        services.incident_resolve(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="Fixed")
        run_worker()
    assert action_ids(headline(slack, incident)) == ["incident_update", "incident_postmortem"]
    slack.reset_calls()
    with at(T0 + timedelta(hours=2)):
        response = send_interaction(client, for_incident(fixture("headline_postmortem_click"), incident.pk))
        assert response.status_code == 200
        assert slack.calls == []
        run_worker()
        expected = postmortem_draft(
            Incident.objects.get(pk=incident.pk), base_url="https://status.example.com", generated_at=T0
        )
    methods = [c.method for c in slack.calls if c.method == "upload" or c.method.startswith("files.")]
    assert methods == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    get_url, upload, complete = (c for c in slack.calls if c.method in methods)
    assert get_url.params["filename"] == f"{incident.key}-postmortem.md"
    assert int(get_url.params["length"]) == upload.params["bytes"]
    head = SlackMessage.objects.get(incident=incident, kind=MessageKind.HEADLINE)
    assert (complete.params["channel_id"], complete.params["thread_ts"]) == (DEFAULT_CHANNEL, head.ts)
    file_id = complete.response["files"][0]["id"]
    content = slack.file_content(file_id).decode()
    assert content.split("\n", 3)[3] == expected.split("\n", 3)[3]  # all but the "generated at" line
    assert "Secret" in content  # staff draft: internal notes included, shared only in the staff thread
    (reply,) = [r for r in slack.replies(DEFAULT_CHANNEL, head.ts) if r.get("files")]
    assert reply["files"][0]["id"] == file_id
    assert "asked for by <@U0REPORTER>" in reply["text"]


def test_postmortem_button_on_an_open_incident_does_nothing(client, slack):
    incident = open_incident()
    send_interaction(client, for_incident(fixture("headline_postmortem_click"), incident.pk))
    run_worker()
    assert slack.calls_to("files.getUploadURLExternal") == []
