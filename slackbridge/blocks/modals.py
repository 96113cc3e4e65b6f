"""Pure Block Kit builders for the inbound side: modals, ephemeral replies, lists and help.

Every function takes domain objects and returns dicts; none touches the database or the
network, so each can be tested (and its Slack limits checked) without a server. Block ids
equal the incident field names, so a service's `ValidationError` maps straight onto the
block that shows the error.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.urls import NoReverseMatch, reverse

from incidents.models import INCIDENT_STATUSES, MAINTENANCE_STATUSES, Component, Incident, Severity, Status, Visibility
from slackbridge.blocks.messages import escape, slack_window

# Slack's documented limits for the objects built here.
MODAL_TITLE_MAX = 24
OPTION_TEXT_MAX = 75
OPTIONS_MAX = 100
PLAIN_TEXT_INPUT_MAX = 3000
TITLE_MAX = Incident._meta.get_field("title").max_length

CREATE_CALLBACK = "create_incident"
MAINTENANCE_CALLBACK = "schedule_maintenance"
AUTO_START = "auto_start"
AUTO_COMPLETE = "auto_complete"
UPDATE_PICK_CALLBACK = "update_incident_pick"
UPDATE_CALLBACK = "update_incident"
RESOLVE_CALLBACK = "resolve_incident"
PICK_ACTION = "update_pick_incident"
INTERNAL = "internal"

SEVERITY_EMOJI = {
    Severity.SEV1: ":red_circle:",
    Severity.SEV2: ":large_orange_circle:",
    Severity.SEV3: ":large_yellow_circle:",
    Severity.SEV4: ":large_blue_circle:",
    Severity.SEV5: ":white_circle:",
}


def plain(text: str, limit: int | None = None) -> dict:
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return {"type": "plain_text", "text": text, "emoji": True}


def mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text}


def option(label: str, value: str) -> dict:
    return {"text": plain(label, OPTION_TEXT_MAX), "value": value}


def incident_url(incident: Incident, base_url: str) -> str:
    """The public page, or the admin page for an internal incident (its public page does not exist)."""
    if incident.visibility == Visibility.INTERNAL:
        try:
            return base_url + reverse("admin:incidents_incident_change", args=[incident.pk])
        except NoReverseMatch:
            pass
    return base_url + incident.get_absolute_url()


def incident_link(incident: Incident, base_url: str) -> str:
    """`*<url|DCL-12>* Title` in mrkdwn (a bare key when there is no absolute URL to link to)."""
    url = incident_url(incident, base_url)
    key = f"<{url}|{incident.key}>" if url.startswith(("http://", "https://")) else incident.key
    return f"*{key}* {escape(incident.title)}"


def incident_summary(incident: Incident, base_url: str) -> str:
    """One line: emoji, linked key, title, severity, status, point; internal incidents say so."""
    bits = [incident.severity, incident.get_status_display().lower()]
    if incident.point:
        bits.append(f"point <@{incident.point}>")
    if incident.visibility == Visibility.INTERNAL:
        bits.append("internal")
    emoji = SEVERITY_EMOJI.get(incident.severity, "") if incident.is_open else ":white_check_mark:"
    return f"{emoji} {incident_link(incident, base_url)} — {', '.join(bits)}"


def maintenance_summary(maintenance: Incident, base_url: str) -> str:
    """One line: linked key and title, status, the window in Slack's own date formatting (reader's zone)."""
    bits = [
        maintenance.get_status_display().lower(),
        slack_window(maintenance.scheduled_for, maintenance.scheduled_until),
    ]
    if maintenance.visibility == Visibility.INTERNAL:
        bits.append("internal")
    return f":wrench: {incident_link(maintenance, base_url)} — {', '.join(bits)}"


# -- replies -------------------------------------------------------------------------------------------------
def ephemeral(text: str) -> dict:
    """A reply only the person who ran the command sees (mrkdwn in `text`)."""
    return {"response_type": "ephemeral", "text": text}


def incident_list_reply(
    *,
    open_incidents: Sequence[Incident],
    closed_incidents: Sequence[Incident] | None,
    maintenances: Sequence[Incident] = (),
    base_url: str,
) -> dict:
    """`/incidents`: open incidents, then maintenances not over (only when there are some), then
    with `all` the recently closed."""
    lines = ["*Open incidents*"]
    lines += [incident_summary(i, base_url) for i in open_incidents] or [":white_check_mark: No open incidents."]
    if maintenances:
        lines.append("*Maintenance*")
        lines += [maintenance_summary(m, base_url) for m in maintenances]
    if closed_incidents is not None:
        lines.append("*Recently closed*")
        lines += [incident_summary(i, base_url) for i in closed_incidents] or ["None."]
    return ephemeral("\n".join(lines))


# -- form elements -------------------------------------------------------------------------------------------
def _input(block_id: str, label: str, element: dict, *, optional: bool = False, hint: str = "") -> dict:
    element = {**element, "action_id": block_id}
    block = {"type": "input", "block_id": block_id, "label": plain(label), "element": element, "optional": optional}
    if hint:
        block["hint"] = plain(hint)
    return block


def _text_input(value: str = "", *, multiline: bool = False, max_length: int | None = None, placeholder: str = ""):
    element: dict[str, Any] = {"type": "plain_text_input", "multiline": multiline}
    if value:
        element["initial_value"] = value
    if max_length:
        element["max_length"] = max_length
    if placeholder:
        element["placeholder"] = plain(placeholder, 150)
    return element


def _select(options: list[dict], initial: str | None = None, placeholder: str = "Choose") -> dict:
    element = {"type": "static_select", "options": options, "placeholder": plain(placeholder)}
    chosen = [o for o in options if o["value"] == initial]
    if chosen:
        element["initial_option"] = chosen[0]
    return element


def _user(initial: str = "") -> dict:
    element = {"type": "users_select", "placeholder": plain("Choose a person")}
    if initial:
        element["initial_user"] = initial
    return element


def _datetime(initial: datetime | None) -> dict:
    element: dict[str, Any] = {"type": "datetimepicker"}
    if initial is not None:
        element["initial_date_time"] = int(initial.timestamp())
    return element


def severity_options() -> list[dict]:
    return [option(f"{value} · {label}", value) for value, label in Severity.choices]


def status_options(incident: Incident | None = None) -> list[dict]:
    """The statuses of the incident's kind (a maintenance has its own, SPEC §8)."""
    statuses = MAINTENANCE_STATUSES if incident is not None and incident.is_maintenance else INCIDENT_STATUSES
    return [option(Status(value).label, value) for value in statuses]


def _components_block(components: Sequence[Component], selected: Iterable[int] = ()) -> list[dict]:
    """The multi-select, or nothing when there are no components (Slack refuses an empty option list).

    Slack allows 100 options: the selected components come first so they are shown (and can be
    removed); the submission keeps selections the form could not offer (interactions.py).
    """
    chosen = {str(pk) for pk in selected}
    ordered = [c for c in components if str(c.pk) in chosen] + [c for c in components if str(c.pk) not in chosen]
    options = [option(c.name, str(c.pk)) for c in ordered[:OPTIONS_MAX]]
    if not options:
        return []
    element: dict[str, Any] = {
        "type": "multi_static_select",
        "options": options,
        "placeholder": plain("Affected services"),
    }
    initial = [o for o in options if o["value"] in chosen]
    if initial:
        element["initial_options"] = initial
    return [_input("components", "Affected components", element, optional=True)]


def _internal_block(block_id: str, label: str, checked: bool) -> dict:
    choice = option(label, INTERNAL)
    element: dict[str, Any] = {"type": "checkboxes", "options": [choice]}
    if checked:
        element["initial_options"] = [choice]
    return _input(block_id, "Visibility", element, optional=True)


def _modal(callback_id: str, title: str, blocks: list[dict], *, submit: str | None, metadata: str = "") -> dict:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, MODAL_TITLE_MAX),
        "close": plain("Cancel" if submit else "Close"),
        "blocks": blocks,
    }
    if submit:
        view["submit"] = plain(submit)
    if metadata:
        view["private_metadata"] = metadata
    return view


# -- modals --------------------------------------------------------------------------------------------------
def create_modal(*, components: Sequence[Component], now: datetime) -> dict:
    blocks = [
        _input("title", "Title", _text_input(max_length=TITLE_MAX, placeholder="Marketplace is down")),
        _input(
            "description",
            "Description",
            _text_input(multiline=True, placeholder="What is happening, who is affected (Markdown)"),
            optional=True,
        ),
        _input("severity", "Severity", _select(severity_options(), Severity.SEV3)),
        _input("reported_at", "Reported at", _datetime(now), hint="When it started or was first reported."),
        _input("point", "Point person", _user(), optional=True, hint="Leads the response."),
        _input("contact", "Contact", _user(), optional=True),
        *_components_block(components),
        _internal_block("visibility", "Internal only (never on the status page)", False),
    ]
    return _modal(CREATE_CALLBACK, "Create incident", blocks, submit="Create")


def maintenance_modal(*, components: Sequence[Component], now: datetime) -> dict:
    """`/maintenance` with no text: title, description, window (end or duration), components, what the
    worker does by itself, internal (SPEC §8). Block ids are the service's field names."""
    start = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    worker = [option("Start it at the scheduled start", AUTO_START), option("Complete it at the end", AUTO_COMPLETE)]
    blocks = [
        _input("title", "Title", _text_input(max_length=TITLE_MAX, placeholder="Catalyst upgrade")),
        _input(
            "description",
            "Description",
            _text_input(multiline=True, placeholder="What will be done and what users will notice (Markdown)"),
            optional=True,
        ),
        _input("scheduled_for", "Starts", _datetime(start)),
        _input("scheduled_until", "Ends", _datetime(None), optional=True, hint="Or give a duration below."),
        _input("duration", "Duration", _text_input(placeholder="90m, 2h, 1h30m"), optional=True),
        *_components_block(components),
        _input(
            "automation",
            "Crashbot",
            {"type": "checkboxes", "options": worker, "initial_options": worker},
            optional=True,
        ),
        _internal_block("visibility", "Internal only (never on the status page)", False),
    ]
    return _modal(MAINTENANCE_CALLBACK, "Schedule maintenance", blocks, submit="Schedule")


def update_picker_modal(*, open_incidents: Sequence[Incident], closed_incidents: Sequence[Incident]) -> dict:
    """Step one of `/update-incident`: choose the incident; choosing swaps in the form (views.update)."""
    groups = []
    budget = OPTIONS_MAX
    for label, incidents in (("Open", open_incidents), ("Recently closed", closed_incidents)):
        options = [
            option(f"{i.key} · {i.severity} · {i.get_status_display()} · {i.title}", str(i.pk))
            for i in list(incidents)[:budget]
        ]
        budget -= len(options)
        if options:
            groups.append({"label": plain(label), "options": options})
    if not groups:
        blocks = [{"type": "section", "text": mrkdwn("There are no open or recently closed incidents.")}]
        return _modal(UPDATE_PICK_CALLBACK, "Update incident", blocks, submit=None)
    select = {
        "type": "static_select",
        "action_id": PICK_ACTION,
        "option_groups": groups,
        "placeholder": plain("Choose an incident"),
    }
    blocks = [
        {
            "type": "section",
            "block_id": "incident",
            "text": mrkdwn("Which incident? Open ones come first, most severe first."),
            "accessory": select,
        }
    ]
    return _modal(UPDATE_PICK_CALLBACK, "Update incident", blocks, submit=None)


def update_modal(*, incident: Incident, components: Sequence[Component], component_ids: Iterable[int]) -> dict:
    """The incident's fields prefilled, plus status, an update message and the RCA link."""
    description = incident.description
    blocks = [
        {"type": "section", "text": mrkdwn(f"*{incident.key}* · {escape(incident.title)}")},
        _input("title", "Title", _text_input(incident.title, max_length=TITLE_MAX)),
        _input("status", "Status", _select(status_options(incident), incident.status)),
        _input("severity", "Severity", _select(severity_options(), incident.severity)),
        _input(
            "message",
            "Update message",
            _text_input(multiline=True, placeholder="What changed? Posted to the timeline."),
            optional=True,
        ),
        _internal_block("message_visibility", "Internal note (staff only, never public)", False),
        _input(
            "description",
            "Description",
            _text_input(description[:PLAIN_TEXT_INPUT_MAX], multiline=True),
            optional=True,
        ),
        _input("point", "Point person", _user(incident.point), optional=True),
        _input("contact", "Contact", _user(incident.contact), optional=True),
        *_components_block(components, component_ids),
        _input("rca_link", "RCA link", _url_input(incident.rca_link), optional=True),
        _input("reported_at", "Reported at", _datetime(incident.reported_at)),
        _input(
            "closed_at",
            "Resolution time",
            _datetime(incident.closed_at),
            optional=True,
            hint="Used when the status is Resolved; leave empty for now.",
        ),
        _internal_block("visibility", "Internal only (never on the status page)", incident.visibility == INTERNAL),
    ]
    if incident.is_maintenance:
        # No severity, RCA or report/resolution times for a maintenance: its window instead (SPEC §8).
        dropped = {"severity", "rca_link", "reported_at", "closed_at"}
        blocks = [b for b in blocks if b.get("block_id") not in dropped]
        blocks[-1:-1] = [
            _input("scheduled_for", "Starts", _datetime(incident.scheduled_for)),
            _input("scheduled_until", "Ends", _datetime(incident.scheduled_until)),
        ]
    return _modal(UPDATE_CALLBACK, f"Update {incident.key}", blocks, submit="Save", metadata=str(incident.pk))


def resolve_modal(*, incident: Incident) -> dict:
    blocks = [
        {"type": "section", "text": mrkdwn(f"Resolve *{incident.key}* · {escape(incident.title)}")},
        _input(
            "message",
            "Resolution message",
            _text_input(multiline=True, placeholder="What fixed it?"),
            optional=True,
        ),
        _input("rca_link", "RCA link", _url_input(incident.rca_link), optional=True),
        _input("closed_at", "Resolved at", _datetime(incident.closed_at), optional=True, hint="Empty means now."),
    ]
    return _modal(RESOLVE_CALLBACK, f"Resolve {incident.key}", blocks, submit="Resolve", metadata=str(incident.pk))


def done_modal(*, title: str, text: str) -> dict:
    """What a submitted form turns into: the outcome, with the key and a link (mrkdwn `text`)."""
    return _modal("done", title, [{"type": "section", "text": mrkdwn(text)}], submit=None)


def _url_input(value: str) -> dict:
    element: dict[str, Any] = {"type": "url_text_input", "placeholder": plain("https://…")}
    if value:
        element["initial_value"] = value
    return element
