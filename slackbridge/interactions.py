"""Button clicks and modal submissions: explicit tables from action_id / callback_id to handler.

A submission is validated by the services; their per-field errors go back as
`response_action: errors` keyed by block id (block ids are field names), so Slack keeps the
form open with everything the person typed. A valid submission turns the modal into a
confirmation with the key and a link. Button clicks answer an empty 200: the headline is
refreshed by the worker when `incident_changed` fires, and the only Web API calls made here
are views.open / views.update.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError

from incidents import selectors, services
from incidents.models import Incident, Severity, Source, Status, Visibility
from slackbridge import channels, client, forms, probe_alerts, reminders
from slackbridge.blocks import modals
from slackbridge.blocks.messages import (
    ACTION_ACKNOWLEDGE,
    ACTION_MAINTENANCE_CANCEL,
    ACTION_MAINTENANCE_COMPLETE,
    ACTION_MAINTENANCE_START,
    ACTION_OPEN_CHANNEL,
    ACTION_POSTMORTEM,
    ACTION_RESOLVE,
    ACTION_UPDATE,
    slack_window,
)
from slackbridge.blocks.monitoring import ACTION_PROBE_OPEN_INCIDENT
from slackbridge.blocks.reminders import ACTION_ASSIGN_POINT, ACTION_SNOOZE, ASSIGN_BLOCK_PREFIX
from slackbridge.maintenance_grammar import parse_duration
from slackbridge.request import DATABASE_UNAVAILABLE, Interaction, team_allowed
from slackbridge.tasks import tell_clicker

logger = logging.getLogger(__name__)

Reply = dict | None


# -- reading a submitted view --------------------------------------------------------------------------------
def view_values(view: dict) -> dict[str, Any]:
    """Flatten `view.state.values` to {block_id: value} for the element types our modals use."""
    values: dict[str, Any] = {}
    state = _dict(_dict(view.get("state")).get("values"))
    for block_id, actions in state.items():
        for element in _dict(actions).values():
            if isinstance(element, dict):
                values[block_id] = _element_value(element)
    return values


def _dict(value: Any) -> dict:
    """Slack always sends objects here; anything else is read as empty rather than crashing on it."""
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _element_value(element: dict) -> Any:
    """The submitted value, as the type our forms send (malformed values read as empty)."""
    kind = element.get("type")
    if kind in ("plain_text_input", "url_text_input"):
        return _text(element.get("value")).strip()
    if kind == "static_select":
        return _text(_dict(element.get("selected_option")).get("value")) or None
    if kind in ("multi_static_select", "checkboxes"):
        options = element.get("selected_options")
        return [o.get("value") for o in options if isinstance(o, dict)] if isinstance(options, list) else []
    if kind == "users_select":
        return _text(element.get("selected_user"))
    if kind == "datetimepicker":
        stamp = element.get("selected_date_time")
        try:
            return datetime.fromtimestamp(int(stamp), tz=UTC) if stamp not in (None, "") else None
        except (TypeError, ValueError, OverflowError, OSError):
            return None
    return _text(element.get("value"))


def _block_ids(view: dict) -> list[str]:
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        return []
    return [
        b["block_id"]
        for b in blocks
        if isinstance(b, dict) and b.get("type") == "input" and isinstance(b.get("block_id"), str) and b["block_id"]
    ]


def errors_reply(exc: ValidationError, view: dict) -> dict:
    """Map a service's per-field errors onto the form's blocks; errors of fields not on the form go to the first."""
    blocks = _block_ids(view)
    errors: dict[str, list[str]] = {}
    fields = exc.message_dict if hasattr(exc, "message_dict") else {"__all__": exc.messages}
    for field, messages in fields.items():
        if field == "message_visibility":
            field = "message"
        block = field if field in blocks else (blocks[0] if blocks else field)
        errors.setdefault(block, []).extend(messages)
    return {"response_action": "errors", "errors": {block: " ".join(msgs) for block, msgs in errors.items()}}


def _field_error(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def _severity(value: Any) -> Severity:
    if value not in Severity.values:
        raise _field_error("severity", "Choose a severity.")
    return Severity(value)


def _status(value: Any) -> Status:
    if value not in Status.values:
        raise _field_error("status", "Choose a status.")
    return Status(value)


def _component_ids(values: list) -> list[int]:
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise _field_error("components", "Unknown component.") from exc


def _offered_components(view: dict) -> set[int]:
    """The component ids the submitted form offered as options (read from the view Slack sends back)."""
    for block in view.get("blocks") or []:
        if isinstance(block, dict) and block.get("block_id") == "components":
            options = _dict(block.get("element")).get("options")
            if isinstance(options, list):
                values = [_dict(o).get("value") for o in options]
                return {int(v) for v in values if isinstance(v, str) and v.isdigit()}
    return set()


def _changed_time(submitted: datetime | None, stored: datetime | None) -> bool:
    """The picker has minute precision: only a different minute counts as a change."""
    if not isinstance(submitted, datetime):
        return False
    return stored is None or int(submitted.timestamp()) // 60 != int(stored.timestamp()) // 60


def _incident_id(view: dict) -> int:
    try:
        return int(_text(view.get("private_metadata")))
    except ValueError as exc:
        raise _field_error("__all__", "This form lost track of its incident; please open it again.") from exc


def _done(incident: Incident, verb: str, base_url: str) -> dict:
    link = modals.incident_link(incident, base_url)
    what = (
        f"window {slack_window(incident.scheduled_for, incident.scheduled_until)}"
        if incident.is_maintenance
        else (incident.severity)
    )
    text = f":white_check_mark: {verb} {link}\n*{incident.get_status_display()}* · {what}"
    return {"response_action": "update", "view": modals.done_modal(title=f"{incident.key} {verb.lower()}", text=text)}


# -- view submissions ----------------------------------------------------------------------------------------
def submit_create(interaction: Interaction) -> Reply:
    v = view_values(interaction.view)
    kwargs: dict[str, Any] = {
        "title": v.get("title") or "",
        "description": v.get("description") or "",
        "severity": _severity(v.get("severity")),
        "point": v.get("point") or "",
        "contact": v.get("contact") or "",
        "components": _component_ids(v.get("components") or []),
        "visibility": Visibility.INTERNAL if modals.INTERNAL in (v.get("visibility") or []) else Visibility.PUBLIC,
    }
    if isinstance(v.get("reported_at"), datetime):
        kwargs["reported_at"] = v["reported_at"]
    incident = services.incident_create(author=interaction.user_id, source=Source.SLACK, **kwargs)
    return _done(incident, "Created", interaction.base_url)


def submit_maintenance(interaction: Interaction) -> Reply:
    """The `/maintenance` form: a window from start + end, or start + duration (SPEC §8)."""
    v = view_values(interaction.view)
    start = v.get("scheduled_for")
    if not isinstance(start, datetime):
        raise _field_error("scheduled_for", "Choose when it starts.")
    end = v.get("scheduled_until")
    duration_text = v.get("duration") or ""
    if duration_text:
        duration = parse_duration(duration_text)
        if duration is None:
            raise _field_error("duration", "Write a duration like 90m, 2h or 1h30m.")
        if isinstance(end, datetime) and end != start + duration:
            raise _field_error("duration", "Give an end time or a duration, not both.")
        end = start + duration
    if not isinstance(end, datetime):
        raise _field_error("scheduled_until", "Choose when it ends, or give a duration.")
    automation = v.get("automation") or []
    incident = services.maintenance_schedule(
        title=v.get("title") or "",
        description=v.get("description") or "",
        scheduled_for=start,
        scheduled_until=end,
        components=_component_ids(v.get("components") or []),
        auto_start=modals.AUTO_START in automation,
        auto_complete=modals.AUTO_COMPLETE in automation,
        visibility=Visibility.INTERNAL if modals.INTERNAL in (v.get("visibility") or []) else Visibility.PUBLIC,
        author=interaction.user_id,
        source=Source.SLACK,
    )
    return _done(incident, "Scheduled", interaction.base_url)


def _submitted_incident(view: dict) -> Incident:
    incident = selectors.incident_get(incident_id=_incident_id(view))
    if incident is None:
        raise _field_error("__all__", "This incident does not exist any more.")
    return incident


def submit_update(interaction: Interaction) -> Reply:
    view = interaction.view
    incident = _submitted_incident(view)
    incident_id = incident.pk
    v = view_values(view)
    kwargs: dict[str, Any] = {}
    for field in ("title", "description", "point", "contact", "rca_link", "message"):
        if field in v:
            kwargs[field] = v[field] or ""
    if "description" in kwargs and len(incident.description) > modals.PLAIN_TEXT_INPUT_MAX:
        # The form could only show the first 3000 characters; keep the rest unless it was edited.
        if kwargs["description"] == incident.description[: modals.PLAIN_TEXT_INPUT_MAX]:
            del kwargs["description"]
    if "severity" in v:
        kwargs["severity"] = _severity(v["severity"])
    if "status" in v:
        kwargs["status"] = _status(v["status"])
    if "components" in v:
        # The select can offer only 100 options: selections it did not offer are kept, not dropped.
        offered = _offered_components(view)
        unseen = {c.pk for c in incident.components.all()} - offered
        kwargs["components"] = sorted(set(_component_ids(v["components"])) | unseen)
    if "visibility" in v:
        kwargs["visibility"] = Visibility.INTERNAL if modals.INTERNAL in v["visibility"] else Visibility.PUBLIC
    if modals.INTERNAL in (v.get("message_visibility") or []):
        kwargs["message_visibility"] = Visibility.INTERNAL
    if _changed_time(v.get("reported_at"), incident.reported_at):
        kwargs["reported_at"] = v["reported_at"]
    for field in ("scheduled_for", "scheduled_until"):  # a maintenance's window
        if _changed_time(v.get(field), getattr(incident, field)):
            kwargs[field] = v[field]
    if kwargs.get("status", incident.status) == Status.RESOLVED and _changed_time(
        v.get("closed_at"), incident.closed_at
    ):
        kwargs["closed_at"] = v["closed_at"]
    before = incident.update_number
    incident = services.incident_update(
        incident_id=incident_id, author=interaction.user_id, source=Source.SLACK, **kwargs
    )
    return _done(incident, "Updated" if incident.update_number != before else "Unchanged", interaction.base_url)


def submit_resolve(interaction: Interaction) -> Reply:
    view = interaction.view
    incident = _submitted_incident(view)
    incident_id = incident.pk
    v = view_values(view)
    kwargs: dict[str, Any] = {"message": v.get("message") or ""}
    if "rca_link" in v:
        kwargs["rca_link"] = v["rca_link"] or ""
    if _changed_time(v.get("closed_at"), incident.closed_at):
        kwargs["closed_at"] = v["closed_at"]
    incident = services.incident_resolve(
        incident_id=incident_id, author=interaction.user_id, source=Source.SLACK, **kwargs
    )
    return _done(incident, "Resolved", interaction.base_url)


VIEW_SUBMISSIONS: dict[str, Callable[[Interaction], Reply]] = {
    modals.CREATE_CALLBACK: submit_create,
    modals.MAINTENANCE_CALLBACK: submit_maintenance,
    modals.UPDATE_CALLBACK: submit_update,
    modals.RESOLVE_CALLBACK: submit_resolve,
}


def handle_view_submission(interaction: Interaction) -> Reply:
    handler = VIEW_SUBMISSIONS.get(_text(interaction.view.get("callback_id")))
    if handler is None:
        logger.info("Ignoring submission of unknown view %r", interaction.view.get("callback_id"))
        return None
    try:
        return handler(interaction)
    except ValidationError as exc:
        return errors_reply(exc, interaction.view)
    except Incident.DoesNotExist:
        return errors_reply(_field_error("__all__", "This incident does not exist any more."), interaction.view)


# -- block actions -------------------------------------------------------------------------------------------
def _action_incident(action: dict) -> Incident | None:
    value = action.get("value")
    if value is None:
        value = _dict(action.get("selected_option")).get("value")
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    try:
        return selectors.incident_get(incident_id=int(value))
    except (TypeError, ValueError, OverflowError):
        return None


def on_acknowledge(interaction: Interaction, action: dict) -> None:
    incident = _action_incident(action)
    if incident is None:
        logger.info("Acknowledge clicked for an unknown incident %r", action.get("value"))
        return
    services.incident_acknowledge(incident_id=incident.pk, author=interaction.user_id, source=Source.SLACK)


def _open_or_tell(interaction: Interaction, incident: Incident, build: Callable[[], dict]) -> None:
    """Open the form; if Slack refuses (expired trigger, slow Slack), tell the clicker through the
    payload's response_url (by the worker: nothing but views.open is called on the request path)."""
    problem = forms.open_form(interaction.trigger_id, build)
    if problem is None or not interaction.response_url:
        return
    text = (
        f":warning: Could not open the form for {incident.key} ({problem}). Nothing was changed. "
        f"Click the button again, or use `/update-incident {incident.key}`."
    )
    tell_clicker.enqueue(response_url=interaction.response_url, text=text)


def on_update_button(interaction: Interaction, action: dict) -> None:
    incident = _action_incident(action)
    if incident is not None:
        _open_or_tell(interaction, incident, lambda: forms.update_modal_for(incident))


def on_resolve_button(interaction: Interaction, action: dict) -> None:
    incident = _action_incident(action)
    if incident is not None:
        _open_or_tell(interaction, incident, lambda: modals.resolve_modal(incident=incident))


def on_pick(interaction: Interaction, action: dict) -> None:
    """Picker → form: replace the modal in place, guarded by its hash against a concurrent change."""
    incident = _action_incident(action)
    view = interaction.view
    if incident is not None and view.get("id"):
        client.try_update_view(view_id=view["id"], view=forms.update_modal_for(incident), view_hash=view.get("hash"))


# -- responders kept on track (SPEC §9): reminder buttons, the channel and the postmortem draft ----------------
def on_snooze(interaction: Interaction, action: dict) -> None:
    incident = _action_incident(action)
    if incident is not None:
        reminders.snooze(incident_id=incident.pk, user_id=interaction.user_id)


def on_assign_point(interaction: Interaction, action: dict) -> None:
    """ "Who is point?" picker: the chosen user becomes point person through the services (timeline, Slack)."""
    block_id = _text(action.get("block_id"))
    incident = _action_incident({"value": block_id.removeprefix(ASSIGN_BLOCK_PREFIX)})
    user = _text(action.get("selected_user"))
    if incident is None or not block_id.startswith(ASSIGN_BLOCK_PREFIX) or not user:
        logger.info("Ignoring a point pick without incident or user (%r)", block_id)
        return
    try:
        services.incident_update(incident_id=incident.pk, point=user, author=interaction.user_id, source=Source.SLACK)
    except ValidationError as exc:
        logger.info("Point pick for %s refused: %s", incident.key, exc.messages)


def on_open_channel(interaction: Interaction, action: dict) -> None:
    incident = _action_incident(action)
    if incident is not None and incident.is_open:
        channels.request_channel(incident=incident, user_id=interaction.user_id)


def on_postmortem(interaction: Interaction, action: dict) -> None:
    from slackbridge import tasks

    incident = _action_incident(action)
    if incident is not None and incident.status == Status.RESOLVED:
        tasks.upload_postmortem.enqueue(incident_id=incident.pk, user_id=interaction.user_id)


# Button → (the move, the statuses it applies to). A click on a stale headline (someone moved it
# meanwhile) changes nothing: the move is conditional, checked under the row lock.
MAINTENANCE_BUTTONS = {
    ACTION_MAINTENANCE_START: (Status.IN_PROGRESS, (Status.SCHEDULED,)),
    ACTION_MAINTENANCE_COMPLETE: (Status.COMPLETED, (Status.IN_PROGRESS, Status.VERIFYING)),
    ACTION_MAINTENANCE_CANCEL: (Status.CANCELLED, (Status.SCHEDULED, Status.IN_PROGRESS)),
}


def on_maintenance_button(interaction: Interaction, action: dict) -> None:
    incident = _action_incident(action)
    if incident is None or not incident.is_maintenance:
        logger.info("Maintenance button clicked for %r, which is no maintenance", action.get("value"))
        return
    status, only_from = MAINTENANCE_BUTTONS[_text(action.get("action_id"))]
    moved = services.maintenance_transition(
        incident_id=incident.pk, status=status, only_from=only_from, author=interaction.user_id, source=Source.SLACK
    )
    if moved is None:
        logger.info(
            "%s: %s clicked while it is %s; nothing changed", incident.key, action.get("action_id"), incident.status
        )


BLOCK_ACTIONS: dict[str, Callable[[Interaction, dict], None]] = {
    **dict.fromkeys(MAINTENANCE_BUTTONS, on_maintenance_button),
    ACTION_ACKNOWLEDGE: on_acknowledge,
    ACTION_UPDATE: on_update_button,
    ACTION_RESOLVE: on_resolve_button,
    modals.PICK_ACTION: on_pick,
    ACTION_PROBE_OPEN_INCIDENT: probe_alerts.on_open_incident_button,
    ACTION_SNOOZE: on_snooze,
    ACTION_ASSIGN_POINT: on_assign_point,
    ACTION_OPEN_CHANNEL: on_open_channel,
    ACTION_POSTMORTEM: on_postmortem,
}


def handle_block_actions(interaction: Interaction) -> Reply:
    for action in interaction.actions:
        handler = BLOCK_ACTIONS.get(_text(action.get("action_id")))
        if handler is None:
            logger.info("Ignoring unknown action %r", action.get("action_id"))
            continue
        handler(interaction, action)
    return None


INTERACTION_TYPES: dict[str, Callable[[Interaction], Reply]] = {
    "view_submission": handle_view_submission,
    "block_actions": handle_block_actions,
}


def database_unavailable_reply(interaction: Interaction) -> Reply:
    """A form stays open with the error on it (and everything typed kept); a click can only be logged,
    as Slack ignores the body of a block_actions reply."""
    if interaction.type == "view_submission":
        return errors_reply(_field_error("__all__", DATABASE_UNAVAILABLE), interaction.view)
    return None


def handle(interaction: Interaction) -> Reply:
    """Entry point for both HTTP and Socket Mode."""
    if not team_allowed(interaction.team_id):
        logger.warning("Refused an interaction from team %s", interaction.team_id)
        if interaction.type == "view_submission":
            return errors_reply(
                _field_error("__all__", "This Crashbot only serves its own Slack workspace."), interaction.view
            )
        return None
    handler = INTERACTION_TYPES.get(interaction.type)
    if handler is None:
        return None  # e.g. view_closed: nothing to do
    try:
        return handler(interaction)
    except DatabaseError:
        logger.exception("Slack interaction %s: the database failed", interaction.type)
        return database_unavailable_reply(interaction)
    except Exception:
        logger.exception("Slack interaction %s failed", interaction.type)
        if interaction.type == "view_submission":
            return errors_reply(
                _field_error("__all__", "Something went wrong on our side; nothing was saved. Please try again."),
                interaction.view,
            )
        return None
