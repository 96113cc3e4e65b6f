"""Slash commands: execution of the grammar's intents, and the tables that drive everything.

`grammar.py` turns text into an intent (pure); this module runs intents through
`incidents.services` and replies. `UPDATE_ACTIONS` has one row per update action (name,
words, parser, executor, help line) and `COMMANDS` one row per slash command: help, the
manifest's hints, suggestions and dispatch are all derived from them (see grammar.py on
adding a row). Every reply is ephemeral, says what happened and who can see it, names the
incident with a link, and echoes user text escaped for mrkdwn. On any mistake the reply
says what was wrong, shows the grammar and repeats what was typed, so nothing is lost.
"""

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.utils import timezone

from incidents import selectors, services
from incidents.models import Incident, Person, Severity, Source, Status, Visibility
from slackbridge import forms, grammar
from slackbridge.blocks import modals
from slackbridge.blocks.messages import slack_window
from slackbridge.grammar import Action, GrammarError, UpdateIntent
from slackbridge.maintenance_grammar import MaintenanceTextError, parse_maintenance
from slackbridge.request import DATABASE_UNAVAILABLE, SlashCommand, team_allowed

logger = logging.getLogger(__name__)

Reply = dict | None  # the JSON body to answer Slack with; None means an empty 200
LIST_LIMIT = 50
SLUGS_SHOWN = 40
escape_code = grammar.code
# Words people reach for instead of a status: answered with a suggestion, never applied.
STATUS_HINTS = {
    "resolve": Status.RESOLVED.value,
    "fixed": Status.RESOLVED.value,
    "close": Status.RESOLVED.value,
    "closed": Status.RESOLVED.value,
    "done": Status.RESOLVED.value,
    "reopen": Status.INVESTIGATING.value,
    "monitor": Status.MONITORING.value,
}
# `/update-incident DCL-N <word>` for a maintenance, each word alone (SPEC §8).
MAINTENANCE_WORDS = {
    "start": Status.IN_PROGRESS,
    "verify": Status.VERIFYING,
    "complete": Status.COMPLETED,
    "cancel": Status.CANCELLED,
}


# -- replies -------------------------------------------------------------------------------------------------
def _author(cmd: SlashCommand) -> dict:
    return {"author": cmd.user_id, "source": Source.SLACK}


def _is_public(incident: Incident) -> bool:
    return incident.visibility == Visibility.PUBLIC


def _seen_by(incident: Incident) -> str:
    """Who sees a public change of this incident."""
    if _is_public(incident):
        return "Posted on the status page ↗"
    return "Internal incident: staff only, not on the status page."


def _entry(incident: Incident) -> str:
    return f"update #{forms.latest_entry_number(incident.pk)}"


def _names(component_ids) -> str:
    return ", ".join(modals.escape(c.name) for c in selectors.components_ordered().filter(pk__in=component_ids))


def _component_ids(slugs: tuple[str, ...]) -> list[int]:
    """The ids of `slugs`; an unknown one is refused with the list of known slugs."""
    known = dict(selectors.components_ordered().values_list("slug", "pk"))
    unknown = [s for s in slugs if s not in known]
    if unknown:
        if not known:
            raise GrammarError("There are no components yet: staff add them in admin (Components).")
        listed = ", ".join(f"`{s}`" for s in list(known)[:SLUGS_SHOWN])
        more = f" and {len(known) - SLUGS_SHOWN} more" if len(known) > SLUGS_SHOWN else ""
        raise GrammarError(f"`{escape_code(unknown[0])}` is not a component. Known components: {listed}{more}.")
    return [known[s] for s in slugs]


# -- /create-incident ----------------------------------------------------------------------------------------
def run_create(cmd: SlashCommand) -> Reply:
    text = cmd.text.strip()
    if not text:
        return open_modal(cmd, forms.create_modal, fallback=CREATE)
    if text.lower() == "help":
        return help_reply(CREATE)
    intent = grammar.parse_create(text, title_max=modals.TITLE_MAX)
    component_ids = _component_ids(intent.slugs)
    visibility = Visibility.INTERNAL if intent.internal else Visibility.PUBLIC
    try:
        incident = services.incident_create(
            title=intent.title,
            severity=Severity(intent.severity),
            visibility=visibility,
            components=component_ids,
            **_author(cmd),
        )
    except ValidationError as exc:
        raise GrammarError(validation_text(exc)) from exc
    link = modals.incident_link(incident, cmd.base_url)
    if not _is_public(incident):
        seen = "internal: staff only, never on the status page"
    elif component_ids:
        seen = f"public; affects {_names(component_ids)}"
    else:
        seen = "public; no components set, so the page shows it as a general incident"
    return modals.ephemeral(
        f":rotating_light: Created {link} — {seen} ({incident.severity}, {incident.status}).\n"
        f"Update it with `{settings.SLACK_UPDATE_COMMAND} {incident.key} &lt;status|message&gt;`."
    )


# -- /update-incident: one executor per action ---------------------------------------------------------------
# Each takes the intent, the command and the incident, writes through one service call, and
# returns the reply (mrkdwn). Nothing-changed is detected around them (run_update).
def _set_status(intent: UpdateIntent, cmd: SlashCommand, incident: Incident) -> str:
    kwargs = {"incident_id": incident.pk, "message": intent.message, **_author(cmd)}
    if intent.value == Status.RESOLVED:
        incident = services.incident_resolve(**kwargs)
    elif intent.value == Status.INVALID:
        incident = services.incident_mark_invalid(**kwargs)
    else:
        incident = services.incident_update(status=Status(intent.value), **kwargs)
    return _updated(incident, cmd)


def _set_severity(intent: UpdateIntent, cmd: SlashCommand, incident: Incident) -> str:
    incident = services.incident_update(
        incident_id=incident.pk, severity=Severity(intent.value), message=intent.message, **_author(cmd)
    )
    return _updated(incident, cmd)


def _state(incident: Incident) -> str:
    """`*status*, sev-N`; a maintenance has no severity to speak of (SPEC §8)."""
    if incident.is_maintenance:
        return f"*{incident.status}*"
    return f"*{incident.status}*, {incident.severity}"


def _updated(incident: Incident, cmd: SlashCommand) -> str:
    link = modals.incident_link(incident, cmd.base_url)
    return f":white_check_mark: Updated {link}: now {_state(incident)} ({_entry(incident)}). {_seen_by(incident)}"


def _move_maintenance(intent: UpdateIntent, cmd: SlashCommand, incident: Incident) -> str:
    incident = services.maintenance_transition(
        incident_id=incident.pk, status=MAINTENANCE_WORDS[intent.value], message=intent.message, **_author(cmd)
    )
    return _updated(incident, cmd)


def _set_rca(intent: UpdateIntent, cmd: SlashCommand, incident: Incident) -> str:
    incident = services.incident_set_rca_link(incident_id=incident.pk, rca_link=intent.value, **_author(cmd))
    where = "shown on the status page ↗" if _is_public(incident) else "internal incident, staff only"
    return f":white_check_mark: RCA link set on {modals.incident_link(incident, cmd.base_url)} ({where})."


def _acknowledge(intent: UpdateIntent, cmd: SlashCommand, incident: Incident) -> str:
    incident = services.incident_acknowledge(incident_id=incident.pk, message=intent.message, **_author(cmd))
    point = f"<@{incident.point}>" if incident.point else "not assigned"
    text = f":white_check_mark: Acknowledged {modals.incident_link(incident, cmd.base_url)}; point person: {point}."
    if intent.message:
        text += f" {_seen_by(incident)}"
    return text


def _add_note(intent: UpdateIntent, cmd: SlashCommand, incident: Incident) -> str:
    incident = services.incident_add_note(incident_id=incident.pk, message=intent.message, **_author(cmd))
    return f":lock: Internal note added (not public) to {modals.incident_link(incident, cmd.base_url)}."


def _post_message(intent: UpdateIntent, cmd: SlashCommand, incident: Incident) -> str:
    incident = services.incident_update(incident_id=incident.pk, message=intent.message, **_author(cmd))
    link = modals.incident_link(incident, cmd.base_url)
    if _is_public(incident):
        return f":white_check_mark: Posted on the status page ↗ {link} ({_entry(incident)})."
    return f":white_check_mark: Update added to {link} ({_entry(incident)}); internal incident, not on the status page."


def _set_components(intent: UpdateIntent, cmd: SlashCommand, incident: Incident) -> str:
    try:
        component_ids = _component_ids(intent.value)
    except GrammarError as exc:
        raise GrammarError(f"{exc} To post text starting with “affects” as a message, begin with `message`.") from exc
    incident = services.incident_update(incident_id=incident.pk, components=component_ids, **_author(cmd))
    link = modals.incident_link(incident, cmd.base_url)
    if not component_ids:
        general = " the page shows it as a general incident" if _is_public(incident) else ""
        return f":white_check_mark: Components of {link} cleared;{general or ' none affected'}."
    return f":white_check_mark: {link} now affects {_names(component_ids)}."


def _set_visibility(intent: UpdateIntent, cmd: SlashCommand, incident: Incident) -> str:
    incident = services.incident_update(incident_id=incident.pk, visibility=Visibility(intent.value), **_author(cmd))
    link = modals.incident_link(incident, cmd.base_url)
    if _is_public(incident):
        return f":white_check_mark: {link} is now public: it shows on the status page ↗."
    return f":lock: {link} is now internal: staff only, it no longer shows on the status page."


def _open_channel(intent: UpdateIntent, cmd: SlashCommand, incident: Incident) -> str:
    """Ask the worker for the incident's own Slack channel (slackbridge/channels.py); no timeline row."""
    from slackbridge import channels

    link = modals.incident_link(incident, cmd.base_url)
    if not incident.is_open:
        raise GrammarError(f"{incident.key} is {incident.status}: channels are for open incidents. Reopen it first.")
    row, asked = channels.request_channel(incident=incident, user_id=cmd.user_id)
    if not asked and row.channel:
        return f"{link} already has its channel: <#{row.channel}>."
    if not asked:
        return f"A channel for {link} is being opened; the headline will link it."
    return (
        f":hourglass_flowing_sand: Opening a channel for {link}: you, the point person and the contact are invited, "
        "and the headline will link it in a moment."
    )


def _with_channel_key(text: str, channel_id: str) -> str:
    """In an incident's own channel the key may be left out: `/update-incident monitoring Fix deployed`."""
    from slackbridge.models import IncidentChannel

    word, _ = grammar.split_first(text)
    if not channel_id or grammar.parse_key(word, prefix=settings.INCIDENT_PREFIX) is not None:
        return text
    incident_id = (
        IncidentChannel.objects.filter(channel=channel_id, archived_at__isnull=True)
        .values_list("incident_id", flat=True)
        .first()
    )
    return f"{incident_id} {text}" if incident_id else text


# The update actions, in the order help shows them. Add a row to add an action (grammar.py says how).
UPDATE_ACTIONS: tuple[Action, ...] = (
    Action(
        name="status",
        words=grammar.STATUSES,
        parse=grammar.parse_status,
        run=_set_status,
        usage="<status> [message]",
        help="change the status (" + "|".join(grammar.STATUSES) + ")",
        fuzzy=True,
        hints=STATUS_HINTS,
    ),
    Action(
        name="severity",
        words=grammar.SEVERITIES,
        parse=grammar.parse_severity_change,
        run=_set_severity,
        usage="sev-N [message]",
        help="change the severity (sev-1 worst … sev-5)",
    ),
    Action(
        name="maintenance",
        words=tuple(MAINTENANCE_WORDS),
        parse=grammar.parse_word,
        run=_move_maintenance,
        usage="start|verify|complete|cancel",
        help="(alone) move a maintenance on; followed by more words it is a message",
        alone=True,
    ),
    Action(
        name="affects",
        words=("affects",),
        parse=grammar.parse_affects,
        run=_set_components,
        usage="affects <slug,slug|none>",
        help="set the affected components (by slug; `none` clears them)",
    ),
    Action(
        name="rca",
        words=("rca",),
        parse=grammar.parse_rca,
        run=_set_rca,
        usage="rca <url>",
        help="set the root-cause analysis link (also after it closed)",
    ),
    Action(
        name="ack",
        words=("ack", "acknowledge"),
        parse=grammar.parse_optional_message,
        run=_acknowledge,
        usage="ack [message]",
        help="acknowledge: you become point person if there is none",
    ),
    Action(
        name="note",
        words=("note",),
        parse=grammar.parse_note,
        run=_add_note,
        usage="note <text>",
        help="add an internal note (staff only, never public)",
    ),
    Action(
        name="visibility",
        words=(Visibility.INTERNAL.value, Visibility.PUBLIC.value),
        parse=grammar.parse_word,
        run=_set_visibility,
        usage="internal|public",
        help="(alone) make the incident internal or public; followed by more words it is a message",
        alone=True,
    ),
    Action(
        name="channel",
        words=("channel",),
        parse=grammar.parse_word,
        run=_open_channel,
        usage="channel",
        help="(alone) open a Slack channel for this incident; invites point, contact and you",
        alone=True,
    ),
    Action(
        name=grammar.MESSAGE,
        words=("message", "msg"),
        parse=grammar.parse_message,
        run=_post_message,
        usage="<message>",
        help="post a public update, status unchanged (`message <text>` forces it)",
    ),
    Action(
        name=grammar.FORM,
        words=(),
        parse=grammar.parse_word,
        run=None,
        usage="",
        help="(key alone) open the update form for that incident",
    ),
)
ACTIONS_BY_NAME = {action.name: action for action in UPDATE_ACTIONS}
OUTSIDE_TIMELINE = frozenset({"channel"})  # actions that write no timeline row: no "Nothing changed" check


def run_update(cmd: SlashCommand) -> Reply:
    text = cmd.text.strip()
    if not text:
        return open_modal(cmd, forms.picker_modal, fallback=UPDATE)
    if text.lower() == "help":
        return help_reply(UPDATE)
    text = _with_channel_key(text, cmd.channel_id)
    intent = grammar.parse_update(text, actions=UPDATE_ACTIONS, prefix=settings.INCIDENT_PREFIX)
    incident = selectors.incident_get(incident_id=intent.incident_id)
    if incident is None:
        raise GrammarError(f"There is no incident {settings.INCIDENT_PREFIX}-{intent.incident_id}.")
    if intent.action == grammar.FORM:
        return open_modal(cmd, lambda: forms.update_modal_for(incident), fallback=UPDATE)
    before = forms.latest_entry_number(incident.pk)
    try:
        reply = ACTIONS_BY_NAME[intent.action].run(intent, cmd, incident)
    except Incident.DoesNotExist as exc:
        raise GrammarError(f"There is no incident {settings.INCIDENT_PREFIX}-{intent.incident_id}.") from exc
    except ValidationError as exc:
        raise GrammarError(f"Could not update {incident.key}: {validation_text(exc)}") from exc
    if intent.action not in OUTSIDE_TIMELINE and forms.latest_entry_number(incident.pk) == before:
        incident.refresh_from_db()
        link = modals.incident_link(incident, cmd.base_url)
        return modals.ephemeral(f"Nothing changed: {link} is already {_state(incident)}.")
    return modals.ephemeral(reply)


# -- /maintenance --------------------------------------------------------------------------------------------
def run_maintenance(cmd: SlashCommand) -> Reply:
    """`/maintenance`: the form, or one line `[internal:] <start> <duration|end> <title> [+slug …]` (SPEC §8)."""
    text = cmd.text.strip()
    if not text:
        return open_modal(cmd, forms.maintenance_modal, fallback=MAINTENANCE)
    if text.lower() == "help":
        return help_reply(MAINTENANCE)
    try:
        intent = parse_maintenance(text, tz=timezone.get_default_timezone(), today=timezone.localdate())
    except MaintenanceTextError as exc:
        raise GrammarError(modals.escape(str(exc))) from exc
    component_ids = _component_ids(intent.component_slugs)
    try:
        maintenance = services.maintenance_schedule(
            title=intent.title,
            scheduled_for=intent.scheduled_for,
            scheduled_until=intent.scheduled_until,
            components=component_ids,
            visibility=Visibility.INTERNAL if intent.internal else Visibility.PUBLIC,
            **_author(cmd),
        )
    except ValidationError as exc:
        raise GrammarError(validation_text(exc)) from exc
    link = modals.incident_link(maintenance, cmd.base_url)
    seen = "internal: staff only, never on the status page" if intent.internal else "public"
    names = _names(component_ids) if component_ids else "no components set"
    return modals.ephemeral(
        f":calendar: Scheduled {link} for {slack_window(maintenance.scheduled_for, maintenance.scheduled_until)} — "
        f"{seen}; {names}. Crashbot starts and completes it on time, with a reminder in its thread "
        f"{settings.MAINTENANCE_REMINDER_MINUTES} min before.\n"
        f"Move it by hand with `{settings.SLACK_UPDATE_COMMAND} {maintenance.key} start|verify|complete|cancel`."
    )


# -- /incidents ----------------------------------------------------------------------------------------------
def run_list(cmd: SlashCommand) -> Reply:
    arg = cmd.text.strip().lower()
    if arg == "help":
        return help_reply(LIST)
    if arg == "rca":
        return _rca_list(cmd)
    if arg not in ("", "all"):
        raise GrammarError(f"`{escape_code(cmd.text.strip())}` is not an option here.")
    open_incidents = list(selectors.incidents_open()[:LIST_LIMIT])
    closed = None
    if arg == "all":
        closed = list(selectors.incidents_recently_closed(days=forms.RECENTLY_CLOSED_DAYS)[:LIST_LIMIT])
    maintenances = list(selectors.maintenances_not_over()[:LIST_LIMIT])
    return modals.incident_list_reply(
        open_incidents=open_incidents, closed_incidents=closed, maintenances=maintenances, base_url=cmd.base_url
    )


def _rca_list(cmd: SlashCommand) -> Reply:
    """`/incidents rca`: resolved sev-1/2 incidents still without an RCA link, soonest due first."""
    from slackbridge import reminders
    from slackbridge.blocks.reminders import rca_list_text

    items = reminders.rca_due()[:LIST_LIMIT]
    link = lambda incident: modals.incident_link(incident, cmd.base_url)  # noqa: E731
    return modals.ephemeral(rca_list_text(items, now=timezone.now(), link=link))


def open_modal(cmd: SlashCommand, build: Callable[[], dict], *, fallback: "Command") -> Reply:
    """Open a form with the command's trigger (the one Web API call allowed on the request path)."""
    problem = forms.open_form(cmd.trigger_id, build)
    if problem is None:
        return None
    return modals.ephemeral(f"Could not open the form ({problem}).\n\n{grammar_text(fallback)}")


# -- the table of commands -----------------------------------------------------------------------------------
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
        ("[internal:] [sev-N] <title> [+slug …]", "create at once; severity sev-3 when not given"),
        ("help", "show this help"),
    ),
    run=run_create,
    hint="[internal:] [sev-N] <title> [+component] | help (no text: the form)",
)
UPDATE = Command(
    name=lambda: settings.SLACK_UPDATE_COMMAND,
    summary="Update an incident",
    forms=(
        ("", "choose an incident, then edit it in a form"),
        *((f"<key> {a.usage}".rstrip(), a.help) for a in UPDATE_ACTIONS),
        ("help", "show this help"),
    ),
    run=run_update,
    hint="<key> <" + "|".join(a.usage.split()[0].strip("<>") for a in UPDATE_ACTIONS if a.usage) + "> … | help",
)
LIST = Command(
    name=lambda: settings.SLACK_LIST_COMMAND,
    summary="List incidents (only you see the list)",
    forms=(
        ("", "open incidents, then maintenances scheduled or in progress"),
        ("all", f"open ones and those closed in the last {forms.RECENTLY_CLOSED_DAYS} days"),
        ("rca", "resolved sev-1/sev-2 incidents whose RCA link is still missing, and when each is due"),
    ),
    run=run_list,
    hint="[all|rca]",
)
MAINTENANCE = Command(
    name=lambda: settings.SLACK_MAINTENANCE_COMMAND,
    summary="Schedule maintenance",
    forms=(
        ("", "open the form (title, description, start, end or duration, components, automation, internal)"),
        (
            "[internal:] <start> <duration|end> <title> [+slug …]",
            "schedule at once; times in the server's zone or ISO 8601 with an offset",
        ),
        ("help", "show this help"),
    ),
    run=run_maintenance,
    hint="2026-12-05 14:00 2h Catalyst upgrade +catalyst | help (no text: the form)",
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


def _display_name(slack_id: str) -> str | None:
    return Person.objects.filter(slack_id=slack_id).values_list("display_name", flat=True).first()


def unescaped(cmd: SlashCommand) -> SlashCommand:
    """The command with its text as the person typed it (Slack escapes it; SPEC §3)."""
    return dataclasses.replace(cmd, text=grammar.unescape(cmd.text, name_of=_display_name))


def handle(cmd: SlashCommand) -> Reply:
    """Entry point for both HTTP and Socket Mode: team check, dispatch, and errors as ephemeral replies."""
    if not team_allowed(cmd.team_id):
        return modals.ephemeral("Sorry, this Crashbot only serves its own Slack workspace.")
    table = {command.name().lower(): command for command in COMMANDS}
    command = table.get(cmd.command)
    if command is None:
        return modals.ephemeral(f"Crashbot does not know `{escape_code(cmd.command)}`.\n\n{grammar_text()}")
    try:
        cmd = unescaped(cmd)
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
