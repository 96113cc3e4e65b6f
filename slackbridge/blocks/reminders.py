"""Pure builders for the reminders posted in an incident's thread and for the `/incidents rca` list.

No database, no network: they take the due reminder (or the list) and return text or Block
Kit dicts within Slack's limits. What people typed (titles) is escaped for mrkdwn.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings

from incidents.models import Incident, Visibility
from slackbridge.blocks.messages import ACTION_POSTMORTEM, ACTION_UPDATE, escape, format_duration

if TYPE_CHECKING:
    from slackbridge.reminders import Due

ACTION_SNOOZE = "reminder_snooze"
ACTION_ASSIGN_POINT = "reminder_assign_point"
ASSIGN_BLOCK_PREFIX = "reminder_assign:"
SECTION_TEXT_MAX = 3000


def timeline_text(item: Due) -> str:
    """The `system` timeline row a reminder leaves (staff only)."""
    quiet = format_duration(item.quiet_for)
    if item.kind == "update":
        what = "public update" if item.incident.visibility == Visibility.PUBLIC else "update"
        return f"Reminder: no {what} for {quiet}."
    if item.kind == "unassigned":
        return f"Reminder: no point person after {quiet}."
    return f"Reminder: resolved {quiet} ago and no RCA link yet."


def _button(label: str, action_id: str, incident: Incident, style: str = "") -> dict:
    button = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": str(incident.pk),
    }
    if style:
        button["style"] = style
    return button


def reminder_message(item: Due, *, mention: str, base_url: str = "") -> dict:
    """``{"text", "blocks"}`` for the thread: who is asked, why, the exact command, and the buttons."""
    incident = item.incident
    key, cmd = incident.key, settings.SLACK_UPDATE_COMMAND
    who = f"<@{mention}> " if mention else ""
    quiet = format_duration(item.quiet_for)
    snooze = _button("Snooze 30 min", ACTION_SNOOZE, incident)
    if item.kind == "update":
        public = incident.visibility == Visibility.PUBLIC
        text = (
            f":alarm_clock: {who}*{key}* has had no {'public ' if public else ''}update for {quiet}. "
            f"Tell {'the status page' if public else 'the team'} where things stand: "
            f"`{cmd} {key} <message>` (or a status: `{cmd} {key} monitoring <message>`)."
        )
        elements = [_button("Post update", ACTION_UPDATE, incident, "primary"), snooze]
    elif item.kind == "unassigned":
        text = (
            f":bust_in_silhouette: {who}*{key}* has no point person after {quiet}. *Who is point?* "
            f"Pick them below, or take it yourself with `{cmd} {key} ack`."
        )
        picker = {
            "type": "users_select",
            "action_id": ACTION_ASSIGN_POINT,
            "placeholder": {"type": "plain_text", "text": "Choose the point person"},
        }
        elements = [picker, snooze]
    else:
        text = (
            f":memo: {who}*{key}* ({incident.severity}) was resolved {quiet} ago and has no RCA link. "
            f"Add it with `{cmd} {key} rca <url>`; the postmortem draft is a start."
        )
        elements = [_button("Postmortem draft", ACTION_POSTMORTEM, incident), snooze]
    title = escape(" ".join(incident.title.split()))
    section = f"{text}\n_{title}_"
    if len(section) > SECTION_TEXT_MAX:
        section = section[: SECTION_TEXT_MAX - 2] + "…_"
    block_id = f"{ASSIGN_BLOCK_PREFIX}{incident.pk}" if item.kind == "unassigned" else f"reminder:{incident.pk}"
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": section}},
        {"type": "actions", "block_id": block_id, "elements": elements},
    ]
    fallback = text.replace("*", "")
    return {"text": fallback, "blocks": blocks}


def rca_list_text(items: Sequence[tuple[Incident, datetime]], *, now: datetime, link) -> str:
    """The `/incidents rca` reply: RCAs still missing, soonest due first, overdue ones marked."""
    if not items:
        return ":white_check_mark: No RCA is due: every resolved sev-1/sev-2 incident has its RCA link."
    lines = [f"*RCAs due* ({len(items)}) — add one with `{settings.SLACK_UPDATE_COMMAND} <key> rca <url>`"]
    for incident, due in items:
        if due <= now:
            when = f":warning: overdue by {format_duration(now - due)}"
        else:
            when = f"due in {format_duration(due - now)}"
        point = f", point <@{incident.point}>" if incident.point else ""
        lines.append(f"• {link(incident)} — {incident.severity}, {when}{point}")
    return "\n".join(lines)
