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
from slackbridge import client, probe_alerts
from slackbridge.blocks import modals
from slackbridge.blocks.messages import ACTION_ACKNOWLEDGE, ACTION_RESOLVE, ACTION_UPDATE
from slackbridge.blocks.monitoring import ACTION_PROBE_OPEN_INCIDENT
from slackbridge.commands import update_modal_for
from slackbridge.request import DATABASE_UNAVAILABLE, Interaction, team_allowed

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
    text = f":white_check_mark: {verb} {link}\n*{incident.get_status_display()}* · {incident.severity}"
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
        kwargs["components"] = _component_ids(v["components"])
    if "visibility" in v:
        kwargs["visibility"] = Visibility.INTERNAL if modals.INTERNAL in v["visibility"] else Visibility.PUBLIC
    if modals.INTERNAL in (v.get("message_visibility") or []):
        kwargs["message_visibility"] = Visibility.INTERNAL
    if _changed_time(v.get("reported_at"), incident.reported_at):
        kwargs["reported_at"] = v["reported_at"]
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


def on_update_button(interaction: Interaction, action: dict) -> None:
    incident = _action_incident(action)
    if incident is not None:
        client.try_open_view(trigger_id=interaction.trigger_id, view=update_modal_for(incident))


def on_resolve_button(interaction: Interaction, action: dict) -> None:
    incident = _action_incident(action)
    if incident is not None:
        client.try_open_view(trigger_id=interaction.trigger_id, view=modals.resolve_modal(incident=incident))


def on_pick(interaction: Interaction, action: dict) -> None:
    """Picker → form: replace the modal in place, guarded by its hash against a concurrent change."""
    incident = _action_incident(action)
    view = interaction.view
    if incident is not None and view.get("id"):
        client.try_update_view(view_id=view["id"], view=update_modal_for(incident), view_hash=view.get("hash"))


BLOCK_ACTIONS: dict[str, Callable[[Interaction, dict], None]] = {
    ACTION_ACKNOWLEDGE: on_acknowledge,
    ACTION_UPDATE: on_update_button,
    ACTION_RESOLVE: on_resolve_button,
    modals.PICK_ACTION: on_pick,
    ACTION_PROBE_OPEN_INCIDENT: probe_alerts.on_open_incident_button,
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
