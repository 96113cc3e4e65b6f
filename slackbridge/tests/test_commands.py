"""Slash commands end to end: signed form bodies through the Django stack, the fake Slack for modals."""

import pytest

from incidents.models import Incident, IncidentUpdate, Severity, Source, Status, Visibility
from incidents.tests.factories import make_component, make_incident
from slackbridge.tests.slack_requests import send_command

pytestmark = pytest.mark.django_db


def reply_text(response) -> str:
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    return body["text"]


# -- /create-incident ---------------------------------------------------------------------------------------
def test_create_one_line_creates_at_once(client, fake_slack, settings):
    settings.PUBLIC_BASE_URL = "https://status.example.com"
    text = reply_text(send_command(client, "create_incident_one_line"))
    incident = Incident.objects.get()
    assert (incident.title, incident.severity, incident.status) == ("Marketplace down", "sev-2", "investigating")
    assert incident.created_by == "U0REPORTER"
    assert incident.updates.get().source == Source.SLACK
    assert f"<https://status.example.com/incidents/{incident.key}|{incident.key}>" in text
    assert fake_slack.calls == []


def test_create_one_line_defaults_to_sev3_and_links_to_request_host(client, fake_slack):
    text = reply_text(send_command(client, text="Login is slow"))
    incident = Incident.objects.get()
    assert incident.severity == Severity.SEV3
    assert f"<http://testserver/incidents/{incident.key}|{incident.key}>" in text


@pytest.mark.parametrize("word", ["SEV-1", "sev1", "[sev-1]", "Sev_1"])
def test_create_accepts_severity_spellings(client, fake_slack, word):
    reply_text(send_command(client, text=f"{word} Everything is down"))
    assert Incident.objects.get().severity == Severity.SEV1


def test_create_escapes_mrkdwn_in_echoed_title(client, fake_slack):
    # Typed as text, Slack sends it escaped; it is stored as typed and echoed escaped once.
    text = reply_text(send_command(client, text="&lt;!channel&gt; &amp; &lt;@U0BOSS&gt; look"))
    assert Incident.objects.get().title == "<!channel> & <@U0BOSS> look"
    assert "&lt;!channel&gt; &amp; &lt;@U0BOSS&gt; look" in text
    assert "<!channel>" not in text
    assert "<@U0BOSS>" not in text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("sev-9 Broken", "There is no severity `sev-9`"),
        ("sev-2", "needs a title"),
        ("x" * 121, "121 characters; the limit is 120"),
    ],
)
def test_create_bad_input_explains_and_writes_nothing(client, fake_slack, text, problem):
    reply = reply_text(send_command(client, text=text))
    assert problem in reply
    assert "/create-incident [internal:] [sev-N] &lt;title&gt; [+slug …]" in reply  # the grammar
    assert "You typed:" in reply
    assert not Incident.objects.exists()


def test_create_help_prints_the_grammar(client, fake_slack):
    text = reply_text(send_command(client, "create_incident_help"))
    assert "/create-incident [internal:] [sev-N] &lt;title&gt; [+slug …]" in text
    assert not Incident.objects.exists()


def test_create_without_text_opens_the_modal(client, fake_slack):
    make_component("Marketplace")
    response = send_command(client, "create_incident_no_text", trigger_id=fake_slack.new_trigger())
    assert response.status_code == 200
    assert response.content == b""
    (call,) = fake_slack.calls
    assert call.method == "views.open"
    view = call.params["view"]
    assert view["callback_id"] == "create_incident"
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert set(blocks) >= {"title", "description", "severity", "reported_at", "point", "contact", "components"}
    assert blocks["title"]["element"]["max_length"] == 120
    assert blocks["description"]["element"]["multiline"] is True
    severity_labels = [o["text"]["text"] for o in blocks["severity"]["element"]["options"]]
    assert severity_labels[0] == "sev-1 · Critical, impacting more than 50% of users"
    assert blocks["severity"]["element"]["initial_option"]["value"] == "sev-3"
    assert blocks["reported_at"]["element"]["type"] == "datetimepicker"
    assert blocks["point"]["element"]["type"] == blocks["contact"]["element"]["type"] == "users_select"
    assert [o["text"]["text"] for o in blocks["components"]["element"]["options"]] == ["Marketplace"]
    assert blocks["visibility"]["element"]["type"] == "checkboxes"


def test_modal_without_components_leaves_the_select_out(client, fake_slack):
    send_command(client, "create_incident_no_text", trigger_id=fake_slack.new_trigger())
    blocks = [b.get("block_id") for b in fake_slack.calls_to("views.open")[0].params["view"]["blocks"]]
    assert "components" not in blocks


def test_expired_trigger_gives_a_helpful_reply(client, fake_slack):
    text = reply_text(send_command(client, "create_incident_no_text", trigger_id="1.2.stale"))
    assert "Could not open the form" in text
    assert "invalid_trigger_id" in text
    assert "/create-incident [internal:] [sev-N] &lt;title&gt; [+slug …]" in text


def test_without_bot_token_the_form_explains(client, fake_slack, settings):
    settings.SLACK_BOT_TOKEN = ""
    text = reply_text(send_command(client, "create_incident_no_text"))
    assert "SLACK_BOT_TOKEN" in text
    assert fake_slack.calls == []


# -- /update-incident ---------------------------------------------------------------------------------------
@pytest.fixture
def incident():
    return make_incident("Marketplace down", severity=Severity.SEV2)


def update(client, text):
    return reply_text(send_command(client, "update_incident_one_line", text=text))


@pytest.mark.parametrize("key_form", ["{key}", "{id}", "{lower}", "#{id}"])
def test_update_status_with_message(client, fake_slack, incident, key_form):
    key = key_form.format(key=incident.key, id=incident.pk, lower=incident.key.lower())
    text = update(client, f"{key}   MONITORING   Fix deployed, watching error rates")
    incident.refresh_from_db()
    assert incident.status == Status.MONITORING
    last = incident.updates.order_by("-number").first()
    assert (last.message, last.author, last.source, last.visibility) == (
        "Fix deployed, watching error rates",
        "U0REPORTER",
        Source.SLACK,
        Visibility.PUBLIC,
    )
    assert "now *monitoring*" in text
    assert incident.key in text


def test_update_resolved_closes(client, fake_slack, incident):
    update(client, f"{incident.key} resolved Rolled back")
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert incident.closed_at is not None


def test_update_invalid_marks_invalid(client, fake_slack, incident):
    update(client, f"{incident.key} invalid duplicate of another")
    incident.refresh_from_db()
    assert incident.status == Status.INVALID


def test_update_reopens_a_resolved_incident(client, fake_slack, incident):
    update(client, f"{incident.key} resolved")
    update(client, f"{incident.key} investigating It is back")
    incident.refresh_from_db()
    assert incident.status == Status.INVESTIGATING
    assert incident.closed_at is None


@pytest.mark.parametrize("word", ["sev-1", "SEV1", "sev_1"])
def test_update_severity(client, fake_slack, incident, word):
    update(client, f"{incident.key} {word} Now everyone is affected")
    incident.refresh_from_db()
    assert incident.severity == Severity.SEV1
    assert incident.updates.order_by("-number").first().message == "Now everyone is affected"


def test_update_rca_link_even_after_close(client, fake_slack, incident):
    update(client, f"{incident.key} resolved")
    update(client, f"{incident.key} rca <https://docs.example.com/rca/1>")
    incident.refresh_from_db()
    assert incident.rca_link == "https://docs.example.com/rca/1"


def test_update_ack_makes_the_author_point(client, fake_slack, incident):
    update(client, f"{incident.key} ack")
    incident.refresh_from_db()
    assert incident.point == "U0REPORTER"
    assert incident.acknowledged_at is not None


def test_update_note_is_internal(client, fake_slack, incident):
    update(client, f"{incident.key} note Customer X escalated")
    last = incident.updates.order_by("-number").first()
    assert (last.message, last.visibility) == ("Customer X escalated", Visibility.INTERNAL)


def test_update_plain_message_keeps_status(client, fake_slack, incident):
    update(client, f"{incident.key} We are still looking into it")
    incident.refresh_from_db()
    assert incident.status == Status.INVESTIGATING
    assert incident.updates.order_by("-number").first().message == "We are still looking into it"


@pytest.mark.parametrize("text", ["Restored service, watching", "Identify the bad node first", "Revert is out"])
def test_words_merely_like_a_status_are_a_plain_message(client, fake_slack, incident, text):
    update(client, f"{incident.key} {text}")
    incident.refresh_from_db()
    assert incident.status == Status.INVESTIGATING
    assert incident.updates.order_by("-number").first().message == text


def test_update_message_keyword_forces_a_message(client, fake_slack, incident):
    update(client, f"{incident.key} message Monitor the queue please")
    incident.refresh_from_db()
    assert incident.status == Status.INVESTIGATING
    assert incident.updates.order_by("-number").first().message == "Monitor the queue please"


def test_update_nothing_changed_says_so(client, fake_slack, incident):
    text = update(client, f"{incident.key} investigating")
    assert "Nothing changed" in text
    assert incident.updates.count() == 1


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{key} monitring fix is out", "did you mean *monitoring*?"),
        ("{key} resolve fixed", "did you mean *resolved*?"),
        ("{key} fixed", "did you mean *resolved*?"),
        ("{key} sev-7", "There is no severity `sev-7`"),
        ("{key} rca", "`rca` needs one link"),
        ("{key} note", "`note` needs some text"),
        ("{key} rca not-a-url", "rca link: Enter a valid URL."),
        ("DCL-99999 resolved", "There is no incident DCL-99999"),
        ("XYZ-1 resolved", "`XYZ-1` is not an incident key"),
        ("marketplace is down", "`marketplace` is not an incident key"),
    ],
)
def test_update_bad_input_explains_and_writes_nothing(client, fake_slack, incident, text, problem):
    reply = update(client, text.format(key=incident.key))
    assert problem in reply
    assert "/update-incident &lt;key&gt; &lt;status&gt; [message]" in reply
    assert "You typed:" in reply
    assert incident.updates.count() == 1
    incident.refresh_from_db()
    assert incident.status == Status.INVESTIGATING
    assert incident.rca_link == ""


def test_update_help_lists_every_form(client, fake_slack):
    text = reply_text(send_command(client, "update_incident_help"))
    for form in ("&lt;status&gt; [message]", "sev-N [message]", "rca &lt;url&gt;", "ack", "note &lt;text&gt;"):
        assert form in text
    assert "investigating|identified|monitoring|resolved|invalid" in text


def test_update_without_text_opens_the_picker(client, fake_slack):
    sev3 = make_incident("Minor glitch", severity=Severity.SEV3)
    sev1 = make_incident("Everything down", severity=Severity.SEV1)
    closed = make_incident("Yesterday", severity=Severity.SEV1)
    from incidents import services

    services.incident_resolve(incident_id=closed.pk, author="U0X", source=Source.SLACK)
    response = send_command(client, "update_incident_no_text", trigger_id=fake_slack.new_trigger())
    assert response.status_code == 200
    assert response.content == b""
    (call,) = fake_slack.calls
    select = call.params["view"]["blocks"][0]["accessory"]
    groups = [(g["label"]["text"], [o["value"] for o in g["options"]]) for g in select["option_groups"]]
    assert groups == [("Open", [str(sev1.pk), str(sev3.pk)]), ("Recently closed", [str(closed.pk)])]


def test_update_key_alone_opens_the_prefilled_form(client, fake_slack, incident):
    send_command(client, "update_incident_one_line", text=incident.key, trigger_id=fake_slack.new_trigger())
    (call,) = fake_slack.calls
    view = call.params["view"]
    assert view["callback_id"] == "update_incident"
    assert view["private_metadata"] == str(incident.pk)


# -- /incidents ---------------------------------------------------------------------------------------------
def test_incidents_lists_open_ones(client, fake_slack, incident):
    internal = make_incident("Staff only", visibility=Visibility.INTERNAL)
    done = make_incident("Old one")
    from incidents import services

    services.incident_resolve(incident_id=done.pk, author="U0X", source=Source.SLACK)
    text = reply_text(send_command(client, "incidents_list"))
    assert incident.key in text
    assert internal.key in text
    assert "internal" in text
    assert f"/admin/incidents/incident/{internal.pk}/change/" in text
    assert done.key not in text
    text_all = reply_text(send_command(client, "incidents_list_all"))
    assert done.key in text_all
    assert "Recently closed" in text_all


def test_incidents_lists_maintenances_not_over(client, fake_slack):
    from datetime import timedelta

    from django.utils import timezone

    from incidents import services

    start = timezone.now() + timedelta(hours=2)
    window = {"author": "U0OPS", "source": Source.SLACK, "scheduled_for": start}
    planned = services.maintenance_schedule(
        title="Database upgrade", scheduled_until=start + timedelta(hours=1), **window
    )
    quiet = services.maintenance_schedule(
        title="Staff-only reindex", visibility=Visibility.INTERNAL, scheduled_until=start + timedelta(hours=3), **window
    )
    gone = services.maintenance_schedule(title="Called off", scheduled_until=start + timedelta(hours=1), **window)
    services.maintenance_transition(incident_id=gone.pk, status=Status.CANCELLED, author="U0OPS", source=Source.SLACK)
    text = reply_text(send_command(client, "incidents_list"))
    assert "No open incidents" in text
    assert "*Maintenance*" in text
    assert planned.key in text
    assert quiet.key in text
    assert f"<!date^{int(start.timestamp())}^" in text  # the window in each reader's own zone
    assert gone.key not in text
    assert text.index(planned.key) < text.index(quiet.key)  # soonest start first (same start: creation order)


def test_incidents_empty(client, fake_slack):
    assert "No open incidents" in reply_text(send_command(client, "incidents_list"))


def test_incidents_unknown_argument(client, fake_slack):
    text = reply_text(send_command(client, "incidents_list", text="everything"))
    assert "`everything` is not an option" in text
    assert "/incidents all" in text


def test_unknown_command(client, fake_slack):
    text = reply_text(send_command(client, "incidents_list", command="/crash"))
    assert "does not know `/crash`" in text


def test_command_names_are_configurable(client, fake_slack, settings):
    settings.SLACK_CREATE_COMMAND = "/declare"
    reply_text(send_command(client, command="/declare", text="sev-1 Renamed"))
    assert Incident.objects.get().title == "Renamed"


def test_other_workspace_is_refused(client, fake_slack, settings):
    settings.SLACK_ALLOWED_TEAM_IDS = ["T0OTHER"]
    text = reply_text(send_command(client))
    assert "only serves its own Slack workspace" in text
    assert not Incident.objects.exists()
    assert not IncidentUpdate.objects.exists()


# -- components, visibility and replies in one line (SPEC §3) -----------------------------------------------
def test_create_with_trailing_slugs_sets_components(client, fake_slack):
    make_component("Marketplace", slug="marketplace")
    make_component("Builder", slug="builder")
    text = reply_text(send_command(client, text="sev-2 Marketplace down +50% +marketplace +builder"))
    incident = Incident.objects.get()
    assert incident.title == "Marketplace down +50%"
    assert sorted(incident.components.values_list("slug", flat=True)) == ["builder", "marketplace"]
    assert "public; affects Builder, Marketplace" in text


def test_create_with_unknown_slug_is_refused_with_the_known_ones(client, fake_slack):
    make_component("Marketplace", slug="marketplace")
    text = reply_text(send_command(client, text="Marketplace down +marketplace +nope"))
    assert "`nope` is not a component" in text
    assert "`marketplace`" in text
    assert not Incident.objects.exists()


def test_create_without_components_warns(client, fake_slack):
    text = reply_text(send_command(client, text="sev-1 Everything down"))
    assert "public; no components set, so the page shows it as a general incident" in text


def test_create_internal(client, fake_slack):
    text = reply_text(send_command(client, text="internal: sev-2 DNS resolver flapping"))
    incident = Incident.objects.get()
    assert (incident.visibility, incident.severity, incident.title) == (
        Visibility.INTERNAL,
        "sev-2",
        "DNS resolver flapping",
    )
    assert "internal: staff only" in text


def test_update_affects_sets_and_clears(client, fake_slack, incident):
    make_component("Marketplace", slug="marketplace")
    make_component("Builder", slug="builder")
    text = update(client, f"{incident.key} affects marketplace,builder")
    assert sorted(incident.components.values_list("slug", flat=True)) == ["builder", "marketplace"]
    assert "now affects Builder, Marketplace" in text
    text = update(client, f"{incident.key} affects none")
    assert not incident.components.exists()
    assert "the page shows it as a general incident" in text
    assert incident.updates.count() == 3


def test_update_affects_unknown_slug_changes_nothing(client, fake_slack, incident):
    make_component("Marketplace", slug="marketplace")
    text = update(client, f"{incident.key} affects marketplace,nope")
    assert "`nope` is not a component" in text
    assert not incident.components.exists()
    assert incident.updates.count() == 1


def test_update_visibility_word_alone_switches_followed_by_words_is_a_message(client, fake_slack, incident):
    text = update(client, f"{incident.key} internal")
    incident.refresh_from_db()
    assert incident.visibility == Visibility.INTERNAL
    assert "is now internal" in text
    last = incident.updates.order_by("-number").first()
    assert last.changes["visibility"] == ["public", "internal"]
    update(client, f"{incident.key} public")
    update(client, f"{incident.key} Public API back")
    incident.refresh_from_db()
    assert incident.visibility == Visibility.PUBLIC
    assert incident.updates.order_by("-number").first().message == "Public API back"


def test_replies_say_what_happened_and_who_sees_it(client, fake_slack, incident):
    assert "Internal note added (not public)" in update(client, f"{incident.key} note Customer X escalated")
    assert "RCA link set" in update(client, f"{incident.key} rca https://docs.example.com/rca")
    text = update(client, f"{incident.key} Still looking")
    assert "Posted on the status page ↗" in text
    assert "update #4" in text  # staff numbering: the timeline row (creation is #1)


def test_ack_with_a_too_long_message_saves_nothing(client, fake_slack, incident):
    text = update(client, f"{incident.key} ack " + "x" * 4001)
    assert "at most 4000 characters" in text
    incident.refresh_from_db()
    assert incident.acknowledged_at is None
    assert incident.point == ""
    assert incident.updates.count() == 1


def test_ack_with_a_message_is_one_timeline_row(client, fake_slack, incident):
    update(client, f"{incident.key} ack On it")
    incident.refresh_from_db()
    assert incident.point == "U0REPORTER"
    last = incident.updates.order_by("-number").first()
    assert (last.number, last.message) == (2, "On it")


def test_slack_escaped_text_is_stored_as_typed(client, fake_slack, incident):
    from incidents.models import Person

    Person.objects.create(slack_id="U0ADA", display_name="Ada")
    update(client, f"{incident.key} &lt;3 &amp; thanks <@U0BOB|bob> <@U0ADA> <@U0NOBODY> in <#C1|general>")
    message = incident.updates.order_by("-number").first().message
    assert message == "<3 & thanks @bob @Ada @someone in #general"
