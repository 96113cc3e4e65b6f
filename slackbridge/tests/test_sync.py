"""End-to-end: services → signal → queued task → real worker → fake Slack."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import Component, Incident, Source, Status
from incidents.tests.factories import admin_form_data
from slackbridge.models import MessageKind, SlackMessage
from slackbridge.tests.fakeslack import DEFAULT_CHANNEL
from slackbridge.tests.syncutil import run_worker

pytestmark = pytest.mark.django_db(transaction=True)


def create(title="Marketplace down", **kwargs):
    kwargs.setdefault("author", "U0POINT")
    kwargs.setdefault("source", Source.SLACK)
    return services.incident_create(title=title, **kwargs)


def headline_of(fake, incident):
    row = SlackMessage.objects.get(incident=incident, kind=MessageKind.HEADLINE)
    return row, fake.message(DEFAULT_CHANNEL, row.ts)


def test_create_posts_one_headline_and_sets_topic(fake_slack):
    incident = create(severity="sev-2", point="U0POINT")
    assert run_worker() == 1
    messages = fake_slack.messages(DEFAULT_CHANNEL)
    assert len(messages) == 1
    blocks = messages[0]["blocks"]
    assert blocks[0]["text"]["text"] == f"DCL-{incident.pk} Marketplace down"
    actions = blocks[-1]["elements"]
    assert [a["action_id"] for a in actions] == [
        "incident_acknowledge",
        "incident_update",
        "incident_resolve",
        "incident_open_channel",
    ]
    assert {a["value"] for a in actions} == {str(incident.pk)}
    assert fake_slack.topic(DEFAULT_CHANNEL) == f":two: DCL-{incident.pk} Marketplace down"
    # Running the sync again changes nothing in Slack.
    fake_slack.reset_calls()
    from slackbridge.tasks import sync_incident

    sync_incident.enqueue(incident_id=incident.pk)
    run_worker()
    assert len(fake_slack.messages(DEFAULT_CHANNEL)) == 1
    assert [c.method for c in fake_slack.calls if c.method != "users.info"] == []


def test_update_with_message_edits_headline_and_adds_one_reply(fake_slack):
    incident = create()
    run_worker()
    services.incident_update(
        incident_id=incident.pk,
        author="U0POINT",
        source=Source.SLACK,
        status=Status.IDENTIFIED,
        message="DB <!channel>",
    )
    run_worker()
    row, msg = headline_of(fake_slack, incident)
    assert fake_slack.edit_count(DEFAULT_CHANNEL, row.ts) == 1
    assert "Identified" in str(msg["blocks"])
    replies = fake_slack.replies(DEFAULT_CHANNEL, row.ts)
    assert len(replies) == 1
    assert "DB &lt;!channel&gt;" in replies[0]["text"]
    assert "<!channel>" not in replies[0]["text"]


def test_resolve_shows_duration_and_topic_drops_it(fake_slack):
    keep = create("Other thing", severity="sev-4")
    incident = create()
    run_worker()
    services.incident_resolve(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="Fixed")
    run_worker()
    _, msg = headline_of(fake_slack, incident)
    text = str(msg["blocks"])
    assert "Resolved" in text
    assert "*Duration*" in text
    assert [a["action_id"] for a in msg["blocks"][-1]["elements"]] == ["incident_update", "incident_postmortem"]
    assert fake_slack.topic(DEFAULT_CHANNEL) == f":four: DCL-{keep.pk} Other thing"
    services.incident_resolve(incident_id=keep.pk, author="U0POINT", source=Source.SLACK)
    run_worker()
    assert fake_slack.topic(DEFAULT_CHANNEL) == ":white_check_mark: All systems operational"


def test_admin_edit_has_the_same_effects(fake_slack, staff_client):
    component = Component.objects.create(name="Marketplace", slug="marketplace")
    incident = create()
    run_worker()
    row, _ = headline_of(fake_slack, incident)
    fake_slack.reset_calls()
    response = staff_client.post(
        reverse("admin:incidents_incident_change", args=[incident.pk]),
        admin_form_data(
            incident,
            title="Marketplace & catalyst down",
            status="resolved",
            components=[component.pk],
            rca_link="https://example.com/rca",
            update_message="Backfilled detail",
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert fake_slack.calls == []  # the admin request itself never calls Slack
    run_worker()
    _, msg = headline_of(fake_slack, incident)
    assert msg["blocks"][0]["text"]["text"].endswith("Marketplace & catalyst down")
    text = str(msg["blocks"])
    assert "Marketplace" in msg["blocks"][1]["fields"][4]["text"]
    assert "*Duration*" in text
    assert "https://example.com/rca" in text
    assert fake_slack.edit_count(DEFAULT_CHANNEL, row.ts) == 1
    replies = fake_slack.replies(DEFAULT_CHANNEL, row.ts)
    assert len(replies) == 1
    assert "alice (admin)" in replies[0]["text"]
    assert "Backfilled detail" in replies[0]["text"]
    assert fake_slack.topic(DEFAULT_CHANNEL) == ":white_check_mark: All systems operational"


def test_imported_or_backfilled_history_stays_out_of_the_channel_until_reopened(fake_slack):
    reported = timezone.now() - timedelta(days=40)
    imported = create("Old import", source=Source.IMPORT, author="import", status=Status.RESOLVED, reported_at=reported)
    backfilled = create("Old backfill", source=Source.ADMIN, author="staff:alice", status=Status.RESOLVED)
    create("Live one")
    run_worker()
    titles = [m["text"] for m in fake_slack.messages(DEFAULT_CHANNEL)]
    assert len(titles) == 1
    assert "Live one" in titles[0]
    assert not SlackMessage.objects.filter(incident__in=[imported, backfilled]).exists()

    services.incident_reopen(incident_id=imported.pk, author="U0POINT", source=Source.SLACK, message="It is back")
    run_worker()
    assert SlackMessage.objects.filter(incident=imported, kind=MessageKind.HEADLINE).exclude(ts="").exists()


# -- Slack's limits and rules, with the strict fake ------------------------------------------------------------
def test_sixty_long_component_names_fit_the_headline(fake_slack):
    components = [
        Component.objects.create(name=f"{n:02d} " + "Marketplace and Builder gateway service " + "x" * 17, slug=f"c{n}")
        for n in range(60)
    ]
    assert all(len(c.name) == 60 for c in components)
    incident = create("x" * 120, components=components, point_name="y" * 200)
    run_worker()
    row, message = headline_of(fake_slack, incident)  # the strict fake took it: every field within limits
    fields = {f["text"].split("\n")[0]: f["text"] for f in message["blocks"][1]["fields"]}
    shown = fields["*Components*"]
    assert len(shown) <= 2000
    assert shown.startswith("*Components*\n00 Marketplace")
    assert shown.endswith(" more")
    assert "+48 more" in shown


def test_actions_block_id_changes_with_every_edit_and_numbering_is_by_timeline_row(fake_slack):
    incident = create()
    run_worker()
    row, first = headline_of(fake_slack, incident)
    assert "#1 · Reported" in str(first["blocks"])
    services.incident_add_note(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="internal")
    services.incident_update(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="public")
    run_worker()
    row, second = headline_of(fake_slack, incident)
    assert first["blocks"][-1]["block_id"] != second["blocks"][-1]["block_id"]
    assert "Update #3" in str(second["blocks"])
    replies = [m["text"].split("\n")[0] for m in fake_slack.replies(DEFAULT_CHANNEL, row.ts)]
    assert replies[0].startswith(":lock: *Internal note* #2")
    assert replies[1].startswith("*Update #3*")


def test_the_channel_id_slack_returns_is_stored_and_used(fake_slack, settings):
    settings.SLACK_INCIDENTS_CHANNEL = "#incidents"
    incident = create()
    run_worker()
    row = SlackMessage.objects.get(incident=incident, kind=MessageKind.HEADLINE)
    assert row.channel == DEFAULT_CHANNEL
    services.incident_update(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="edit me")
    run_worker()
    assert fake_slack.edit_count(DEFAULT_CHANNEL, row.ts) == 1  # chat.update got the id (names are refused)
    reply = SlackMessage.objects.get(incident=incident, kind=MessageKind.REPLY)
    assert reply.channel == DEFAULT_CHANNEL


def test_a_channel_name_is_refused_at_start_up(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.SLACK_INCIDENTS_CHANNEL = "#incidents"
    with pytest.raises(SystemCheckError, match="not a channel id"):
        call_command("check")
    settings.SLACK_INCIDENTS_CHANNEL = "C0INCIDENTS"
    call_command("check")


def test_slack_escaped_title_shows_as_typed_everywhere(client, fake_slack, settings):
    from slackbridge.tests.slack_requests import send_command

    settings.SLACK_SIGNING_SECRET = "test-signing-secret"
    response = send_command(client, text="sev-2 Login &amp; signup &lt;3")  # as Slack sends what was typed
    assert response.status_code == 200
    incident = Incident.objects.get()
    assert incident.title == "Login & signup <3"
    run_worker()
    row, message = headline_of(fake_slack, incident)
    assert message["blocks"][0]["text"]["text"] == f"{incident.key} Login & signup <3"  # plain_text: as typed
    assert "Login &amp; signup &lt;3" in message["text"]  # mrkdwn: escaped once
    assert "&amp;amp;" not in str(message)
    page = client.get(f"/incidents/{incident.key}").content.decode()
    assert "Login &amp; signup &lt;3" in page  # HTML: escaped once
    assert "&amp;amp;" not in page
    (item,) = client.get("/list").json()["open"]
    assert (item["key"], item["title"]) == (incident.key, "Login & signup <3")
