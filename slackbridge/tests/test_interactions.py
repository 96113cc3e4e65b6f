"""Modal submissions and headline buttons: signed `payload` bodies through the Django stack."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from incidents import services
from incidents.models import Incident, Severity, Source, Status, Visibility
from incidents.tests.factories import make_component, make_incident
from slackbridge.tests.slack_requests import fixture, for_incident, send_interaction, set_state

pytestmark = pytest.mark.django_db


def submit(client, payload):
    response = send_interaction(client, payload)
    assert response.status_code == 200
    return response.json()


def create_payload():
    payload = fixture("create_incident_modal_submission")
    component = make_component("Marketplace")
    set_state(payload, "components", selected_options=[{"value": str(component.pk)}])
    set_state(payload, "reported_at", selected_date_time=int((timezone.now() - timedelta(minutes=10)).timestamp()))
    return payload


# -- create -------------------------------------------------------------------------------------------------
def test_create_submission_creates_and_confirms(client, fake_slack, settings):
    settings.PUBLIC_BASE_URL = "https://status.example.com"
    body = submit(client, create_payload())
    incident = Incident.objects.get()
    assert incident.title == "Marketplace down"
    assert incident.description.startswith("Listings do not load.")
    assert (incident.severity, incident.point, incident.contact) == ("sev-2", "U0POINT", "U0CONTACT")
    assert [c.name for c in incident.components.all()] == ["Marketplace"]
    assert incident.visibility == Visibility.PUBLIC
    assert incident.created_by == "U0REPORTER"
    assert incident.updates.get().source == Source.SLACK
    assert body["response_action"] == "update"
    text = body["view"]["blocks"][0]["text"]["text"]
    assert f"<https://status.example.com/incidents/{incident.key}|{incident.key}>" in text
    assert fake_slack.calls == []


def test_create_submission_internal_only(client, fake_slack):
    payload = set_state(create_payload(), "visibility", selected_options=[{"value": "internal"}])
    submit(client, payload)
    assert Incident.objects.get().visibility == Visibility.INTERNAL


@pytest.mark.parametrize(
    ("block", "element", "message"),
    [
        ("title", {"value": ""}, "This field cannot be blank."),
        ("title", {"value": "x" * 121}, "at most 120 characters"),
        ("title", {"value": "two\nlines"}, "single line"),
        ("description", {"value": "d" * 4001}, "at most 4000 characters"),
        ("severity", {"selected_option": {"value": "sev-9"}}, "Choose a severity."),
        ("severity", {"selected_option": None}, "Choose a severity."),
        ("reported_at", {"selected_date_time": int(datetime(2999, 1, 1, tzinfo=UTC).timestamp())}, "future"),
        ("point", {"selected_user": "not-a-user"}, "is not a Slack user id"),
        ("contact", {"selected_user": "bogus"}, "is not a Slack user id"),
        ("components", {"selected_options": [{"value": "987654"}]}, "Unknown component"),
        ("components", {"selected_options": [{"value": "abc"}]}, "Unknown component"),
    ],
)
def test_create_submission_errors_per_field(client, fake_slack, block, element, message):
    body = submit(client, set_state(create_payload(), block, **element))
    assert body["response_action"] == "errors"
    assert list(body["errors"]) == [block]
    assert message in body["errors"][block]
    assert not Incident.objects.exists()


def test_create_submission_echoes_no_mrkdwn(client, fake_slack):
    body = submit(client, set_state(create_payload(), "title", value="<!here> hello"))
    assert "&lt;!here&gt; hello" in body["view"]["blocks"][0]["text"]["text"]
    assert "<!here>" not in body["view"]["blocks"][0]["text"]["text"]


# -- update form --------------------------------------------------------------------------------------------
@pytest.fixture
def incident():
    component = make_component("Marketplace")
    return make_incident("Marketplace down", severity=Severity.SEV2, point="U0POINT", components=[component])


def update_payload(incident):
    payload = for_incident(fixture("update_incident_modal_submission"), incident.pk)
    set_state(payload, "components", selected_options=[{"value": str(c.pk)} for c in incident.components.all()])
    set_state(payload, "reported_at", selected_date_time=int(incident.reported_at.timestamp()))
    set_state(payload, "description", value=incident.description or None)
    return payload


def test_update_submission_changes_status_and_posts_message(client, fake_slack, incident):
    body = submit(client, update_payload(incident))
    incident.refresh_from_db()
    assert incident.status == Status.MONITORING
    assert incident.update_number == 1
    last = incident.updates.order_by("-number").first()
    assert last.message == "Fix deployed, watching error rates."
    assert last.visibility == Visibility.PUBLIC
    assert set(last.changes) == {"status", "monitoring_at"}  # unchanged fields (reported_at to the second) stay
    assert body["response_action"] == "update"
    assert incident.key in body["view"]["blocks"][0]["text"]["text"]


def test_update_submission_internal_note(client, fake_slack, incident):
    payload = set_state(update_payload(incident), "message_visibility", selected_options=[{"value": "internal"}])
    set_state(payload, "status", selected_option={"value": "investigating"})
    submit(client, payload)
    last = incident.updates.order_by("-number").first()
    assert last.visibility == Visibility.INTERNAL


def test_update_submission_resolved_with_resolution_time(client, fake_slack, incident):
    closed = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=1)
    payload = set_state(update_payload(incident), "status", selected_option={"value": "resolved"})
    set_state(payload, "closed_at", selected_date_time=int(closed.timestamp()))
    set_state(payload, "reported_at", selected_date_time=int((closed - timedelta(hours=1)).timestamp()))
    set_state(payload, "rca_link", value="https://docs.example.com/rca/7")
    body = submit(client, payload)
    assert body["response_action"] == "update", body
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert incident.closed_at == closed
    assert incident.reported_at == closed - timedelta(hours=1)
    assert incident.rca_link == "https://docs.example.com/rca/7"


def test_update_submission_unchanged_writes_nothing(client, fake_slack, incident):
    payload = set_state(update_payload(incident), "status", selected_option={"value": "investigating"})
    set_state(payload, "message", value="")
    body = submit(client, payload)
    assert incident.updates.count() == 1
    assert "unchanged" in body["view"]["title"]["text"]


@pytest.mark.parametrize(
    ("block", "element", "message"),
    [
        ("title", {"value": ""}, "cannot be blank"),
        ("status", {"selected_option": {"value": "done"}}, "Choose a status."),
        ("severity", {"selected_option": {"value": "sev-0"}}, "Choose a severity."),
        ("message", {"value": "m" * 4001}, "at most 4000 characters"),
        ("rca_link", {"value": "ftp://nope"}, "valid URL"),
        ("point", {"selected_user": "nobody"}, "is not a Slack user id"),
        ("closed_at", {"selected_date_time": 946684800}, "cannot close before it was reported"),
    ],
)
def test_update_submission_errors_per_field(client, fake_slack, incident, block, element, message):
    payload = update_payload(incident)
    if block == "closed_at":
        set_state(payload, "status", selected_option={"value": "resolved"})
    body = submit(client, set_state(payload, block, **element))
    assert body["response_action"] == "errors"
    assert message in body["errors"][block]
    assert incident.updates.count() == 1


def test_update_submission_for_unknown_incident(client, fake_slack, incident):
    body = submit(client, for_incident(update_payload(incident), 987654))
    assert body["response_action"] == "errors"
    assert "does not exist" in body["errors"]["title"]


# -- resolve form -------------------------------------------------------------------------------------------
def test_resolve_submission_closes(client, fake_slack, incident):
    body = submit(client, for_incident(fixture("resolve_incident_modal_submission"), incident.pk))
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert incident.rca_link == "https://docs.example.com/rca/marketplace"
    assert incident.updates.order_by("-number").first().message == "Rolled back the release; all green."
    assert "Resolved" in body["view"]["blocks"][0]["text"]["text"]


def test_resolve_submission_bad_rca(client, fake_slack, incident):
    payload = set_state(for_incident(fixture("resolve_incident_modal_submission"), incident.pk), "rca_link", value="x")
    body = submit(client, payload)
    assert body["errors"] == {"rca_link": "Enter a valid URL."}
    incident.refresh_from_db()
    assert incident.status == Status.INVESTIGATING


# -- buttons ------------------------------------------------------------------------------------------------
def click(client, fake_slack, name, incident_id):
    payload = for_incident(fixture(name), incident_id)
    payload["trigger_id"] = fake_slack.new_trigger()
    response = send_interaction(client, payload)
    assert response.status_code == 200
    assert response.content == b""


def test_acknowledge_button(client, fake_slack):
    incident = make_incident("No point yet")
    click(client, fake_slack, "headline_acknowledge_click", incident.pk)
    incident.refresh_from_db()
    assert incident.point == "U0REPORTER"
    assert incident.acknowledged_at is not None
    assert incident.updates.order_by("-number").first().author == "U0REPORTER"
    assert fake_slack.calls == []


def test_acknowledge_button_keeps_existing_point(client, fake_slack, incident):
    click(client, fake_slack, "headline_acknowledge_click", incident.pk)
    incident.refresh_from_db()
    assert incident.point == "U0POINT"


def test_update_button_opens_prefilled_form(client, fake_slack, incident):
    services.incident_set_rca_link(
        incident_id=incident.pk, rca_link="https://x.example/rca", author="U0X", source=Source.SLACK
    )
    click(client, fake_slack, "headline_update_click", incident.pk)
    (call,) = fake_slack.calls
    assert call.method == "views.open"
    view = call.params["view"]
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert view["private_metadata"] == str(incident.pk)
    assert blocks["title"]["element"]["initial_value"] == "Marketplace down"
    assert blocks["status"]["element"]["initial_option"]["value"] == "investigating"
    assert blocks["severity"]["element"]["initial_option"]["value"] == "sev-2"
    assert blocks["point"]["element"]["initial_user"] == "U0POINT"
    assert blocks["rca_link"]["element"]["initial_value"] == "https://x.example/rca"
    assert [o["text"]["text"] for o in blocks["components"]["element"]["initial_options"]] == ["Marketplace"]
    assert {"message", "closed_at", "reported_at"} <= set(blocks)


def test_resolve_button_opens_short_form(client, fake_slack, incident):
    click(client, fake_slack, "headline_resolve_click", incident.pk)
    (call,) = fake_slack.calls
    view = call.params["view"]
    assert view["callback_id"] == "resolve_incident"
    assert [b.get("block_id") for b in view["blocks"][1:]] == ["message", "rca_link", "closed_at"]


def test_picker_selection_swaps_in_the_form(client, fake_slack, incident):
    opened = fake_slack.views  # open the picker the way Slack would, then pick from it
    from slackbridge.client import open_view
    from slackbridge.forms import picker_modal as _picker_modal

    view = open_view(trigger_id=fake_slack.new_trigger(), view=_picker_modal())["view"]
    payload = for_incident(fixture("update_incident_pick_action"), incident.pk)
    payload["view"].update(id=view["id"], hash=view["hash"])
    fake_slack.reset_calls()
    response = send_interaction(client, payload)
    assert response.status_code == 200
    (call,) = fake_slack.calls
    assert call.method == "views.update"
    assert opened[view["id"]]["callback_id"] == "update_incident"
    assert opened[view["id"]]["private_metadata"] == str(incident.pk)


def test_buttons_for_unknown_incident_do_nothing(client, fake_slack):
    for name in ("headline_acknowledge_click", "headline_update_click", "headline_resolve_click"):
        click(client, fake_slack, name, 987654)
    assert fake_slack.calls == []


def test_view_closed_and_unknown_actions_are_ignored(client, fake_slack, incident):
    assert send_interaction(client, fixture("view_closed")).status_code == 200
    payload = fixture("headline_acknowledge_click")
    payload["actions"][0]["action_id"] = "something_else"
    assert send_interaction(client, payload).status_code == 200
    assert incident.updates.count() == 1


def test_interaction_from_other_workspace_is_refused(client, fake_slack, settings):
    settings.SLACK_ALLOWED_TEAM_IDS = ["T0OTHER"]
    body = submit(client, create_payload())
    assert "only serves its own Slack workspace" in body["errors"]["title"]
    assert not Incident.objects.exists()


@pytest.mark.django_db(transaction=True)  # the worker runs outside a test transaction (as in test_sync.py)
def test_button_whose_form_cannot_open_tells_the_clicker_by_response_url(client, fake_slack):
    from slackbridge.tests.syncutil import run_worker

    incident = make_incident("Form will fail")
    payload = for_incident(fixture("headline_update_click"), incident.pk)
    payload["trigger_id"] = "1.2.expired"
    payload["response_url"] = fake_slack.response_url("click")
    response = send_interaction(client, payload)
    assert response.status_code == 200
    assert [c.method for c in fake_slack.calls] == ["views.open"]  # nothing else on the request path
    run_worker()
    (told,) = fake_slack.responses["click"]
    assert told["response_type"] == "ephemeral"
    assert f"Could not open the form for {incident.key}" in told["text"]
    assert "invalid_trigger_id" in told["text"]


def test_response_url_elsewhere_is_not_posted_to(settings):
    from slackbridge.tasks import response_url_allowed

    settings.SLACK_API_URL = "https://slack.com/api/"
    assert response_url_allowed("https://hooks.slack.com/actions/T1/2/abc")
    assert not response_url_allowed("http://hooks.slack.com/actions/T1/2/abc")
    assert not response_url_allowed("https://evil.example/hooks.slack.com")
    assert not response_url_allowed("https://hooks.slack.com.evil.example/x")


def test_untouched_update_form_keeps_components_beyond_the_first_100(client, fake_slack):
    from slackbridge.client import open_view
    from slackbridge.forms import update_modal_for

    components = [make_component(f"Service {n:03d}", slug=f"svc-{n}") for n in range(120)]
    affected = [components[0], *components[105:110]]
    incident = make_incident("Wide outage")
    services.incident_update(incident_id=incident.pk, author="U0X", source=Source.SLACK, components=affected)
    view = open_view(trigger_id=fake_slack.new_trigger(), view=update_modal_for(incident))["view"]
    block = next(b for b in view["blocks"] if b.get("block_id") == "components")
    assert len(block["element"]["options"]) == 100  # Slack's limit (the strict fake accepted it)
    # Submit the form as Slack would, untouched: its state holds the initial selections.
    payload = for_incident(fixture("update_incident_modal_submission"), incident.pk)
    payload["view"]["blocks"] = view["blocks"]
    set_state(payload, "components", selected_options=block["element"]["initial_options"])
    for field in ("title", "status", "severity"):
        payload["view"]["state"]["values"].pop(field, None)
    before = incident.updates.count()
    submit(client, payload)
    assert set(incident.components.all()) == set(affected)
    # Removing one that the form showed still works, and keeps the others.
    set_state(payload, "components", selected_options=block["element"]["initial_options"][1:])
    submit(client, payload)
    assert set(incident.components.all()) == set(affected) - {components[0]}
    assert incident.updates.count() >= before
