"""Slash commands: the one-line grammar and an explicit dispatch table (help is generated from it).

Parsing is pure (`parse_create`, `parse_update` return an intent or raise `GrammarError`);
executing an intent calls `incidents.services`. Every reply is ephemeral, names the
incident with a link, and echoes user text escaped for mrkdwn. On any mistake the reply
says what was wrong, shows the grammar and repeats what was typed, so nothing is lost.
"""

import difflib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.utils import timezone

from incidents import selectors, services
from incidents.models import INCIDENT_STATUSES, Incident, Severity, Source, Status, Visibility
from slackbridge import client
from slackbridge.blocks import modals
from slackbridge.blocks.messages import slack_window
from slackbridge.maintenance_grammar import MaintenanceTextError, parse_maintenance
from slackbridge.request import DATABASE_UNAVAILABLE, SlashCommand, team_allowed

logger = logging.getLogger(__name__)

Reply = dict | None  # the JSON body to answer Slack with; None means an empty 200

_SEVERITY = re.compile(r"^\[?sev[-_ ]?(?P<n>\d+)\]?$", re.IGNORECASE)
_FIRST_WORD = re.compile(r"^\s*(?P<word>\S+)\s*(?P<rest>.*)$", re.DOTALL)
STATUS_WORDS = tuple(INCIDENT_STATUSES)
# `/update-incident DCL-N <word>` for a maintenance, each word alone (followed by more words it is a message).
MAINTENANCE_WORDS = {
    "start": Status.IN_PROGRESS,
    "verify": Status.VERIFYING,
    "complete": Status.COMPLETED,
    "cancel": Status.CANCELLED,
}
# Words people reach for instead of a status: answered with a suggestion, never applied.
STATUS_HINTS = {
    "resolve": Status.RESOLVED,
    "fixed": Status.RESOLVED,
    "close": Status.RESOLVED,
    "closed": Status.RESOLVED,
    "done": Status.RESOLVED,
    "reopen": Status.INVESTIGATING,
    "monitor": Status.MONITORING,
}
RECENTLY_CLOSED_DAYS = 14
LIST_LIMIT = 50


class GrammarError(Exception):
    """Input we cannot act on; the message says why (mrkdwn, user text already escaped)."""


# -- grammar (pure) ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CreateIntent:
    title: str
    severity: Severity = Severity.SEV3


@dataclass(frozen=True)
class UpdateIntent:
    incident_id: int
    action: str  # a key of UPDATE_ACTIONS, "status", "severity" or "form"
    value: str = ""
    message: str = ""


@dataclass(frozen=True)
class UpdateAction:
    usage: str
    summary: str


# The words after the key, in the order help shows them. Status and severity forms are generated.
UPDATE_ACTIONS = {
    "status": UpdateAction("<status> [message]", "change the status (" + "|".join(STATUS_WORDS) + ")"),
    "severity": UpdateAction("sev-N [message]", "change the severity (sev-1 worst … sev-5)"),
    "rca": UpdateAction("rca <url>", "set the root-cause analysis link (also after it closed)"),
    "ack": UpdateAction("ack", "acknowledge: you become point person if there is none"),
    "note": UpdateAction("note <text>", "add an internal note (staff only, never public)"),
    "message": UpdateAction("<message>", "post a public update, status unchanged (`message <text>` forces it)"),
    "maintenance": UpdateAction(
        "start|verify|complete|cancel", "move a maintenance on (each word alone; with more words it is a message)"
    ),
    "form": UpdateAction("", "(key alone) open the update form for that incident"),
}
_ACTION_WORDS = {
    "rca": "rca",
    "ack": "ack",
    "acknowledge": "ack",
    "note": "note",
    "message": "message",
    "msg": "message",
}


def _split_first(text: str) -> tuple[str, str]:
    match = _FIRST_WORD.match(text or "")
    if not match:
        return "", ""
    return match.group("word"), match.group("rest").strip()


def parse_severity(word: str) -> Severity | None:
    """`sev-2`, `SEV2`, `sev_2`, `[sev-2]` → sev-2; None if `word` is not a severity at all.

    Raises `GrammarError` for a severity-shaped word with no such level (`sev-9`).
    """
    match = _SEVERITY.match(word)
    if not match:
        return None
    value = f"sev-{int(match.group('n'))}"
    if value not in Severity.values:
        raise GrammarError(f"There is no severity `{escape_code(word)}`: use sev-1 (worst) to sev-5.")
    return Severity(value)


def parse_create(text: str) -> CreateIntent:
    """`[sev-N] <title>`, severity sev-3 when not given."""
    word, rest = _split_first(text)
    severity = parse_severity(word) if word else None
    title = rest if severity else (text or "").strip()
    if severity is None:
        severity = Severity.SEV3
    title = " ".join(title.split())
    if not title:
        raise GrammarError("An incident needs a title.")
    if len(title) > modals.TITLE_MAX:
        raise GrammarError(
            f"The title is {len(title)} characters; the limit is {modals.TITLE_MAX}. Shorten it, or run the "
            "command with no text to open the form, whose description takes the details."
        )
    return CreateIntent(title=title, severity=severity)


def parse_update(text: str) -> UpdateIntent:
    """`<key> <status|sev-N|rca|ack|note|message> …`; see UPDATE_ACTIONS."""
    key, rest = _split_first(text)
    incident_id = selectors.parse_incident_key(key)
    if incident_id is None:
        if not key:
            raise GrammarError("Say which incident: its key, like `DCL-12`, or just `12`.")
        raise GrammarError(
            f"`{escape_code(key)}` is not an incident key. Start with the key, "
            f"like `{settings.INCIDENT_PREFIX}-12` or `12`."
        )
    if not rest:
        return UpdateIntent(incident_id, "form")
    word, after = _split_first(rest)
    lowered = word.lower().rstrip(":,")
    if lowered in MAINTENANCE_WORDS and not after:
        return UpdateIntent(incident_id, "maintenance", value=MAINTENANCE_WORDS[lowered])
    if lowered in STATUS_WORDS:
        return UpdateIntent(incident_id, "status", value=lowered, message=after)
    severity = parse_severity(word)
    if severity is not None:
        return UpdateIntent(incident_id, "severity", value=severity, message=after)
    action = _ACTION_WORDS.get(lowered)
    if action == "rca":
        url = after.strip().strip("<>").split("|")[0].strip()
        if not url or " " in url:
            raise GrammarError("`rca` needs one link: `rca https://…`.")
        return UpdateIntent(incident_id, "rca", value=url)
    if action == "ack":
        return UpdateIntent(incident_id, "ack", message=after)
    if action == "note":
        if not after:
            raise GrammarError("`note` needs some text: `note <text>`.")
        return UpdateIntent(incident_id, "note", message=after)
    if action == "message":
        if not after:
            raise GrammarError("`message` needs some text.")
        return UpdateIntent(incident_id, "message", message=after)
    suggestion = suggest_status(lowered)
    if suggestion:
        raise GrammarError(
            f"`{escape_code(word)}` is not a status: did you mean *{suggestion}*? Nothing was changed. "
            f"To post text starting with that word as a message, write `message {escape_code(rest)}`."
        )
    return UpdateIntent(incident_id, "message", message=rest)


def suggest_status(word: str) -> str | None:
    """The status a near-miss word probably meant (`monitring`, `resolve`, `fixed`); None if nothing close.

    Only words of five letters or more are compared, so ordinary short words starting a
    message are never taken for a status.
    """
    if word in STATUS_HINTS:
        return STATUS_HINTS[word].value
    if len(word) < 5 or not word.isalpha():
        return None
    close = difflib.get_close_matches(word, STATUS_WORDS, n=1, cutoff=0.85)
    return close[0] if close else None


def escape_code(text: str) -> str:
    """User text shown inside backticks: escaped, and without backticks that would end the span."""
    return modals.escape(text).replace("`", "'")


# -- execution -----------------------------------------------------------------------------------------------
def _author(cmd: SlashCommand) -> dict:
    return {"author": cmd.user_id, "source": Source.SLACK}


def run_create(cmd: SlashCommand) -> Reply:
    text = cmd.text.strip()
    if not text:
        return open_modal(
            cmd,
            lambda: modals.create_modal(components=list(selectors.components_ordered()), now=timezone.now()),
            fallback=CREATE,
        )
    if text.lower() == "help":
        return help_reply(CREATE)
    intent = parse_create(text)
    try:
        incident = services.incident_create(title=intent.title, severity=intent.severity, **_author(cmd))
    except ValidationError as exc:
        raise GrammarError(validation_text(exc)) from exc
    link = modals.incident_link(incident, cmd.base_url)
    return modals.ephemeral(
        f":rotating_light: Created {link} ({incident.severity}, {incident.status}).\n"
        f"Update it with `{settings.SLACK_UPDATE_COMMAND} {incident.key} &lt;status|message&gt;`."
    )


def run_update(cmd: SlashCommand) -> Reply:
    text = cmd.text.strip()
    if not text:
        return open_modal(cmd, _picker_modal, fallback=UPDATE)
    if text.lower() == "help":
        return help_reply(UPDATE)
    intent = parse_update(text)
    incident = selectors.incident_get(incident_id=intent.incident_id)
    if incident is None:
        raise GrammarError(f"There is no incident {settings.INCIDENT_PREFIX}-{intent.incident_id}.")
    if intent.action == "form":
        return open_modal(cmd, lambda: update_modal_for(incident), fallback=UPDATE)
    before = incident.update_number
    try:
        incident = UPDATE_EXECUTORS[intent.action](intent, cmd)
    except Incident.DoesNotExist as exc:
        raise GrammarError(f"There is no incident {settings.INCIDENT_PREFIX}-{intent.incident_id}.") from exc
    except ValidationError as exc:
        raise GrammarError(f"Could not update {incident.key}: {validation_text(exc)}") from exc
    link = modals.incident_link(incident, cmd.base_url)
    state = f"*{incident.status}*" if incident.is_maintenance else f"*{incident.status}*, {incident.severity}"
    if incident.update_number == before:
        return modals.ephemeral(f"Nothing changed: {link} is already {state}.")
    return modals.ephemeral(f":white_check_mark: Updated {link}: now {state} (update #{incident.update_number}).")


def _set_status(intent: UpdateIntent, cmd: SlashCommand) -> Incident:
    if intent.value == Status.RESOLVED:
        return services.incident_resolve(incident_id=intent.incident_id, message=intent.message, **_author(cmd))
    if intent.value == Status.INVALID:
        return services.incident_mark_invalid(incident_id=intent.incident_id, message=intent.message, **_author(cmd))
    return services.incident_update(
        incident_id=intent.incident_id, status=Status(intent.value), message=intent.message, **_author(cmd)
    )


def _set_severity(intent: UpdateIntent, cmd: SlashCommand) -> Incident:
    return services.incident_update(
        incident_id=intent.incident_id, severity=Severity(intent.value), message=intent.message, **_author(cmd)
    )


def _set_rca(intent: UpdateIntent, cmd: SlashCommand) -> Incident:
    return services.incident_set_rca_link(incident_id=intent.incident_id, rca_link=intent.value, **_author(cmd))


def _acknowledge(intent: UpdateIntent, cmd: SlashCommand) -> Incident:
    incident = services.incident_acknowledge(incident_id=intent.incident_id, **_author(cmd))
    if intent.message:
        incident = services.incident_update(incident_id=intent.incident_id, message=intent.message, **_author(cmd))
    return incident


def _add_note(intent: UpdateIntent, cmd: SlashCommand) -> Incident:
    return services.incident_add_note(incident_id=intent.incident_id, message=intent.message, **_author(cmd))


def _post_message(intent: UpdateIntent, cmd: SlashCommand) -> Incident:
    return services.incident_update(incident_id=intent.incident_id, message=intent.message, **_author(cmd))


def _move_maintenance(intent: UpdateIntent, cmd: SlashCommand) -> Incident:
    incident = services.maintenance_transition(
        incident_id=intent.incident_id, status=Status(intent.value), message=intent.message, **_author(cmd)
    )
    assert incident is not None  # noqa: S101 - unconditional moves always return the maintenance
    return incident


UPDATE_EXECUTORS: dict[str, Callable[[UpdateIntent, SlashCommand], Incident]] = {
    "maintenance": _move_maintenance,
    "status": _set_status,
    "severity": _set_severity,
    "rca": _set_rca,
    "ack": _acknowledge,
    "note": _add_note,
    "message": _post_message,
}


def run_maintenance(cmd: SlashCommand) -> Reply:
    """`/maintenance`: the form, or one line `<start> <duration|end> <title> [+slug …]` (SPEC §8)."""
    text = cmd.text.strip()
    if not text:
        return open_modal(
            cmd,
            lambda: modals.maintenance_modal(components=list(selectors.components_ordered()), now=timezone.now()),
            fallback=MAINTENANCE,
        )
    if text.lower() == "help":
        return help_reply(MAINTENANCE)
    try:
        intent = parse_maintenance(text, tz=timezone.get_default_timezone(), today=timezone.localdate())
    except MaintenanceTextError as exc:
        raise GrammarError(modals.escape(str(exc))) from exc
    components = _components_by_slug(intent.component_slugs)
    try:
        maintenance = services.maintenance_schedule(
            title=intent.title,
            scheduled_for=intent.scheduled_for,
            scheduled_until=intent.scheduled_until,
            components=components,
            visibility=Visibility.INTERNAL if intent.internal else Visibility.PUBLIC,
            **_author(cmd),
        )
    except ValidationError as exc:
        raise GrammarError(validation_text(exc)) from exc
    link = modals.incident_link(maintenance, cmd.base_url)
    shown = "internal, not on the status page" if intent.internal else "public"
    names = ", ".join(modals.escape(c.name) for c in components) or "no components"
    return modals.ephemeral(
        f":calendar: Scheduled {link} for {slack_window(maintenance.scheduled_for, maintenance.scheduled_until)} — "
        f"{shown}; {names}. Crashbot starts it and completes it on time, with a reminder in its thread "
        f"{settings.MAINTENANCE_REMINDER_MINUTES} min before.\n"
        f"Move it by hand with `{settings.SLACK_UPDATE_COMMAND} {maintenance.key} start|verify|complete|cancel`."
    )


def _components_by_slug(slugs: tuple[str, ...]) -> list:
    if not slugs:
        return []
    known = {c.slug: c for c in selectors.components_ordered()}
    unknown = [s for s in slugs if s not in known]
    if unknown:
        listed = ", ".join(f"+{slug}" for slug in known) or "none are configured"
        raise GrammarError(
            f"No component `{escape_code('+' + unknown[0])}`. Known components: {modals.escape(listed)}."
        )
    return [known[s] for s in dict.fromkeys(slugs)]


def run_list(cmd: SlashCommand) -> Reply:
    arg = cmd.text.strip().lower()
    if arg == "help":
        return help_reply(LIST)
    if arg not in ("", "all"):
        raise GrammarError(f"`{escape_code(cmd.text.strip())}` is not an option here.")
    open_incidents = list(selectors.incidents_open()[:LIST_LIMIT])
    closed = None
    if arg == "all":
        closed = list(selectors.incidents_recently_closed(days=RECENTLY_CLOSED_DAYS)[:LIST_LIMIT])
    return modals.incident_list_reply(open_incidents=open_incidents, closed_incidents=closed, base_url=cmd.base_url)


# -- modals on the request path ------------------------------------------------------------------------------
def _picker_modal() -> dict:
    return modals.update_picker_modal(
        open_incidents=list(selectors.incidents_open()[: modals.OPTIONS_MAX]),
        closed_incidents=list(selectors.incidents_recently_closed(days=RECENTLY_CLOSED_DAYS)[: modals.OPTIONS_MAX]),
    )


def update_modal_for(incident: Incident) -> dict:
    return modals.update_modal(
        incident=incident,
        components=list(selectors.components_ordered()),
        component_ids=[c.pk for c in incident.components.all()],
    )


def open_modal(cmd: SlashCommand, build: Callable[[], dict], *, fallback: "Command") -> Reply:
    """Open a form with the command's trigger (the one Web API call allowed on the request path)."""
    problem = client.try_open_view(trigger_id=cmd.trigger_id, view=build())
    if problem is None:
        return None
    return modals.ephemeral(f"Could not open the form ({problem}).\n\n{grammar_text(fallback)}")


# -- the table -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    name: Callable[[], str]  # the slash command, read from settings when asked
    summary: str
    forms: tuple[tuple[str, str], ...]  # (arguments, what it does)
    run: Callable[[SlashCommand], Reply]
    hint: str = ""  # the short usage hint Slack shows while typing (manifest, at most 100 characters)


CREATE = Command(
    name=lambda: settings.SLACK_CREATE_COMMAND,
    summary="Open an incident",
    forms=(
        ("", "open the form (title, description, severity, reported at, people, components, internal)"),
        ("[sev-N] <title>", "create at once; severity sev-3 when not given"),
        ("help", "show this help"),
    ),
    run=run_create,
    hint="[sev-N] <title> | help (no text: open the form)",
)
UPDATE = Command(
    name=lambda: settings.SLACK_UPDATE_COMMAND,
    summary="Update an incident",
    forms=(
        ("", "choose an incident, then edit it in a form"),
        *((f"<key> {a.usage}".rstrip(), a.summary) for a in UPDATE_ACTIONS.values()),
        ("help", "show this help"),
    ),
    run=run_update,
    hint="<key> <status|sev-N|rca url|ack|note text|message> | help",
)
LIST = Command(
    name=lambda: settings.SLACK_LIST_COMMAND,
    summary="List incidents (only you see the list)",
    forms=(("", "open incidents"), ("all", f"open ones and those closed in the last {RECENTLY_CLOSED_DAYS} days")),
    run=run_list,
    hint="[all]",
)
MAINTENANCE = Command(
    name=lambda: settings.SLACK_MAINTENANCE_COMMAND,
    summary="Schedule maintenance",
    forms=(
        ("", "open the form (title, description, start, end or duration, components, automation, internal)"),
        (
            "[internal:] <start> <duration|end> <title> [+component …]",
            "schedule at once; times in the server's zone or ISO 8601 with an offset",
        ),
        ("help", "show this help"),
    ),
    run=run_maintenance,
    hint="2026-12-05 14:00 2h Catalyst upgrade +catalyst | help (no text: open the form)",
)
COMMANDS = (CREATE, UPDATE, LIST, MAINTENANCE)


def grammar_text(*commands: Command) -> str:
    """The usage lines of `commands` (all by default), generated from the table so help never drifts."""
    lines = []
    for command in commands or COMMANDS:
        name = command.name()
        lines.append(f"*{name}* — {command.summary}")
        lines += [
            f"• `{modals.escape(f'{name} {args}'.strip())}` — {modals.escape(what)}" for args, what in command.forms
        ]
    if any(c is UPDATE for c in commands or COMMANDS):
        example = f"{settings.SLACK_UPDATE_COMMAND} {settings.INCIDENT_PREFIX}-12 monitoring Fix deployed, watching"
        lines.append(f"Keys: `{settings.INCIDENT_PREFIX}-12` or `12`. Example: `{example}`")
    return "\n".join(lines)


def help_reply(command: Command) -> dict:
    return modals.ephemeral(grammar_text(command))


def validation_text(exc: ValidationError) -> str:
    """A service's per-field errors as one readable line (messages are ours, not user text)."""
    if hasattr(exc, "message_dict"):
        parts = []
        for field, messages in exc.message_dict.items():
            label = field.replace("_", " ") if field != "__all__" else ""
            parts.append((f"{label}: " if label else "") + " ".join(messages))
        return modals.escape("; ".join(parts))
    return modals.escape(" ".join(exc.messages))


def handle(cmd: SlashCommand) -> Reply:
    """Entry point for both HTTP and Socket Mode: team check, dispatch, and errors as ephemeral replies."""
    if not team_allowed(cmd.team_id):
        return modals.ephemeral("Sorry, this Crashbot only serves its own Slack workspace.")
    table = {command.name().lower(): command for command in COMMANDS}
    command = table.get(cmd.command)
    if command is None:
        return modals.ephemeral(f"Crashbot does not know `{escape_code(cmd.command)}`.\n\n{grammar_text()}")
    try:
        return command.run(cmd)
    except GrammarError as exc:
        return modals.ephemeral(f":warning: {exc}\n\n{grammar_text(command)}{_you_typed(cmd)}")
    except DatabaseError:
        logger.exception("Slash command %s: the database failed", cmd.command)
        return database_unavailable_reply(cmd)
    except Exception:
        logger.exception("Slash command %s failed", cmd.command)
        return modals.ephemeral(
            f":x: Something went wrong on our side and nothing was changed. Please try again.{_you_typed(cmd)}"
        )


def database_unavailable_reply(cmd: SlashCommand) -> dict:
    """The services write in one transaction, so a failed database means nothing was kept: say so."""
    return modals.ephemeral(f":x: {DATABASE_UNAVAILABLE}{_you_typed(cmd)}")


def _you_typed(cmd: SlashCommand) -> str:
    if not cmd.text.strip():
        return ""
    return f"\n\nYou typed: `{cmd.command} {escape_code(cmd.text.strip())}`"
