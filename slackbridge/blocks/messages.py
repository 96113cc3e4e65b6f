"""Pure builders for what the worker posts: the headline, thread replies and the channel topic.

They take domain objects (and the few extra facts they need) and return text or Block Kit
dicts; no database, no network. Everything a person typed is escaped for mrkdwn, so a title
of ``<!channel>`` shows as text and pings nobody.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from incidents.models import Incident, IncidentUpdate, Severity, Source, Status, Visibility

TOPIC_MAX = 250  # Slack's limit for conversations.setTopic
ALL_CLEAR_TOPIC = ":white_check_mark: All systems operational"
HEADER_MAX = 150  # Slack's limit for a header block's text
FIELD_MAX = 2000  # Slack's limit for each section field (docs/SLACK.md)
COMPONENTS_SHOWN_MAX = 12  # beyond this the headline says "… +N more"
ELLIPSIS = "…"
TOPIC_MIN_TITLE = 12  # below this a cut title says nothing; show fewer incidents instead

SEVERITY_EMOJI = {
    Severity.SEV1: ":one:",
    Severity.SEV2: ":two:",
    Severity.SEV3: ":three:",
    Severity.SEV4: ":four:",
    Severity.SEV5: ":five:",
}
STATUS_EMOJI = {
    Status.INVESTIGATING: ":mag:",
    Status.IDENTIFIED: ":bulb:",
    Status.MONITORING: ":eyes:",
    Status.RESOLVED: ":white_check_mark:",
    Status.INVALID: ":no_entry_sign:",
    Status.SCHEDULED: ":calendar:",
    Status.IN_PROGRESS: ":wrench:",
    Status.VERIFYING: ":eyes:",
    Status.COMPLETED: ":white_check_mark:",
    Status.CANCELLED: ":heavy_multiplication_x:",
}
MAINTENANCE_EMOJI = ":wrench:"
# Action ids handled by the inbound side (slackbridge/interactions.py); value = incident id.
ACTION_ACKNOWLEDGE = "incident_acknowledge"
ACTION_UPDATE = "incident_update"
ACTION_RESOLVE = "incident_resolve"
ACTION_OPEN_CHANNEL = "incident_open_channel"
ACTION_POSTMORTEM = "incident_postmortem"
# A maintenance's buttons: the move each makes (SPEC §8).
ACTION_MAINTENANCE_START = "maintenance_start"
ACTION_MAINTENANCE_COMPLETE = "maintenance_complete"
ACTION_MAINTENANCE_CANCEL = "maintenance_cancel"


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_len(text: str) -> int:
    """Length as Slack counts it: UTF-16 code units (an emoji like 🔥 counts 2).

    Never less than the number of code points, so a text that fits by this count fits
    whichever of the two Slack applies.
    """
    return len(text.encode("utf-16-le")) // 2


def format_duration(delta: timedelta) -> str:
    """`3d 4h`, `2h 05m`, `45m`, `< 1m` — what a person reads at a glance."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "< 1m"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins:02d}m"
    return f"{mins}m"


def slack_date(moment: datetime) -> str:
    """A date Slack shows in each reader's own time zone, with UTC as the fallback text."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def person(slack_id: str, free_text: str = "") -> str:
    """A Slack user as a mention (Slack renders the name); free text escaped; else Not assigned."""
    if slack_id:
        return f"<@{slack_id}>"
    if free_text:
        return escape(free_text)
    return "Not assigned"


def author_label(author: str) -> str:
    """Timeline authors are Slack ids, `staff:<username>` (admin) or import names."""
    if author.startswith("staff:"):
        return f"{escape(author.removeprefix('staff:'))} (admin)"
    if author[:1] in ("U", "W") and author.isalnum() and author.isupper():
        return f"<@{author}>"
    return escape(author) or "someone"


def severity_text(severity: str) -> str:
    sev = Severity(severity)
    return f"{SEVERITY_EMOJI[sev]} *{sev.value}* · {sev.label}"


def status_text(status: str) -> str:
    st = Status(status)
    return f"{STATUS_EMOJI[st]} {st.label}"


def slack_window(start: datetime, end: datetime) -> str:
    """A maintenance window in each reader's own time zone (`<!date^…>`), UTC as the fallback text."""
    same_day = start.date() == end.date()
    until = f"<!date^{int(end.timestamp())}^{{time}}|{end.strftime('%H:%M UTC')}>" if same_day else slack_date(end)
    return f"{slack_date(start)} – {until} ({format_duration(end - start)})"


def maintenance_headline(incident: Incident, *, components: Sequence[str]) -> dict:
    """A maintenance's message in the channel: its window, status and components; no severity (SPEC §8)."""
    key = incident.key
    header = f"{key} {incident.title}"
    if len(header) > HEADER_MAX:
        header = header[: HEADER_MAX - 1] + ELLIPSIS
    fields = [
        f"*Scheduled maintenance*\n{slack_window(incident.scheduled_for, incident.scheduled_until)}",
        f"*Status*\n{status_text(incident.status)}",
        f"*Components*\n{', '.join(escape(c) for c in components) or 'None'}",
        f"*Worker*\n{'starts it' if incident.auto_start else 'does not start it'}, "
        f"{'completes it' if incident.auto_complete else 'does not complete it'}",
    ]
    if incident.started_at:
        fields.append(f"*Started*\n{slack_date(incident.started_at)}")
    if incident.status == Status.COMPLETED and incident.closed_at:
        fields.append(f"*Completed*\n{slack_date(incident.closed_at)}")
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{header}", "emoji": True}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    context = [f"{MAINTENANCE_EMOJI} Maintenance", f"Update #{incident.update_number}"]
    if incident.visibility == Visibility.INTERNAL:
        context.insert(0, ":lock: Internal, not on the status page")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    blocks.append(
        {"type": "actions", "block_id": f"incident_actions:{incident.pk}", "elements": maintenance_buttons(incident)}
    )
    text = f"{key} [maintenance] {escape(incident.title)} — {Status(incident.status).label}"
    return {"text": text, "blocks": blocks}


def maintenance_buttons(incident: Incident) -> list[dict]:
    """Start (scheduled), Complete (active), Update, Cancel (asks to confirm); only Update once it is over."""
    value = str(incident.pk)

    def button(label: str, action_id: str, style: str = "", confirm: dict | None = None) -> dict:
        b = {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": action_id, "value": value}
        if style:
            b["style"] = style
        if confirm:
            b["confirm"] = confirm
        return b

    cancel = button(
        "Cancel",
        ACTION_MAINTENANCE_CANCEL,
        "danger",
        confirm={
            "title": {"type": "plain_text", "text": "Cancel this maintenance?"},
            "text": {"type": "plain_text", "text": "It leaves the status page; subscribers are told."},
            "confirm": {"type": "plain_text", "text": "Cancel it"},
            "deny": {"type": "plain_text", "text": "Keep it"},
        },
    )
    update = button("Update", ACTION_UPDATE)
    if incident.status == Status.SCHEDULED:
        return [button("Start now", ACTION_MAINTENANCE_START, "primary"), update, cancel]
    if incident.status in (Status.IN_PROGRESS, Status.VERIFYING):
        return [button("Complete", ACTION_MAINTENANCE_COMPLETE, "primary"), update]
    return [update]


def component_list(names: Sequence[str], *, limit: int = FIELD_MAX - 20, shown: int = COMPONENTS_SHOWN_MAX) -> str:
    """`Marketplace, Builder, … +52 more` (escaped): as many names as fit in ``limit`` and ``shown``."""
    if not names:
        return "None"
    parts: list[str] = []
    for i, name in enumerate(names):
        more = len(names) - i
        tail = f", … +{more - 1} more" if more > 1 else ""
        piece = escape(name)
        if i >= shown or slack_len(", ".join([*parts, piece]) + tail) > limit:
            return ", ".join(parts) + f"{', ' if parts else ''}… +{more} more"
        parts.append(piece)
    return ", ".join(parts)


def _field(label: str, value: str) -> str:
    """A section field, never over Slack's 2000 (values are already escaped; cut without splitting an escape)."""
    head = f"*{label}*\n"
    return head + _cut(value, FIELD_MAX - slack_len(head))


def headline(
    incident: Incident,
    *,
    components: Sequence[str],
    entry_number: int = 1,
    channel: tuple[str, str] | None = None,
) -> dict:
    """The incident's message in the channel: ``{"text": fallback, "blocks": [...]}``.

    Edited in place on every change. Buttons act on the incident; once it is closed only
    Update is left (to reopen or add the RCA link). ``entry_number`` is the incident's last
    timeline row (staff numbering: creation is #1, "Reported"). Every field stays within
    Slack's limits whatever the data (60 components of 60 characters show as a cut list).
    ``channel`` is the incident's own live channel as (channel id, name), id empty while it is
    being opened; without one, an open incident offers "Open channel"; resolved ones offer
    "Postmortem draft".
    The actions block id is left for the caller to make unique per edit (``with_actions_id``).
    """
    if incident.is_maintenance:
        return maintenance_headline(incident, components=components)
    key = incident.key
    header = f"{key} {incident.title}"
    if len(header) > HEADER_MAX:
        header = header[: HEADER_MAX - 1] + ELLIPSIS
    fields = [
        _field("Severity", severity_text(incident.severity)),
        _field("Status", status_text(incident.status)),
        _field("Point", person(incident.point, incident.point_name)),
        _field("Contact", person(incident.contact, incident.contact_name)),
        _field("Components", component_list(components)),
        _field("Reported", slack_date(incident.reported_at)),
    ]
    if incident.status == Status.RESOLVED and incident.closed_at:
        fields.append(_field("Resolved", slack_date(incident.closed_at)))
        fields.append(_field("Duration", format_duration(incident.closed_at - incident.reported_at)))
    if incident.rca_link:
        link = f"<{escape(incident.rca_link)}|Root-cause analysis>"
        fields.append(_field("RCA", link if slack_len(link) <= FIELD_MAX - 10 else "(link too long to show)"))
    if channel is not None:
        fields.append(_field("Channel", f"<#{channel[0]}>" if channel[0] else "Opening…"))
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    context = ["#1 · Reported" if entry_number <= 1 else f"Update #{entry_number}"]
    if incident.visibility == Visibility.INTERNAL:
        context.insert(0, ":lock: Internal incident, not on the status page")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    blocks.append(
        {
            "type": "actions",
            "block_id": f"incident_actions:{incident.pk}",
            "elements": buttons(incident, has_channel=channel is not None),
        }
    )
    text = f"{key} [{incident.severity}] {escape(incident.title)} — {Status(incident.status).label}"
    return {"text": text, "blocks": blocks}


def with_actions_id(message: dict, suffix: str) -> dict:
    """The headline with its actions block id made unique for this version: Slack asks for a new
    block_id when a message is updated, or clients may keep showing the old buttons' state."""
    blocks = [
        {**b, "block_id": f"{b['block_id']}:{suffix}"} if b.get("type") == "actions" else b for b in message["blocks"]
    ]
    return {**message, "blocks": blocks}


def buttons(incident: Incident, *, has_channel: bool = True) -> list[dict]:
    value = str(incident.pk)

    def button(label: str, action_id: str, style: str = "") -> dict:
        b = {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": action_id, "value": value}
        if style:
            b["style"] = style
        return b

    if not incident.is_open:
        closed = [button("Update", ACTION_UPDATE)]
        if incident.status == Status.RESOLVED:
            closed.append(button("Postmortem draft", ACTION_POSTMORTEM))
        return closed
    open_buttons = [
        button("Acknowledge", ACTION_ACKNOWLEDGE),
        button("Update", ACTION_UPDATE),
        button("Resolve", ACTION_RESOLVE, "primary"),
    ]
    if not has_channel:
        open_buttons.append(button("Open channel", ACTION_OPEN_CHANNEL))
    return open_buttons


def thread_reply(entry: IncidentUpdate) -> str:
    """A timeline entry as a reply in the headline's thread (internal notes marked as such)."""
    who = author_label(entry.author)
    if entry.source == Source.SYSTEM:
        head = f":robot_face: *Crashbot* #{entry.number}" + (" · not public" if entry.visibility == "internal" else "")
    elif entry.visibility == Visibility.INTERNAL:
        head = f":lock: *Internal note* #{entry.number} · {who}"
    else:
        head = f"*Update #{entry.number}* · {status_text(entry.status)} · {who}"
    changes = _change_summary(entry.changes or {})
    lines = [head]
    if changes:
        lines.append(f"_{changes}_")
    lines.append(escape(entry.message))
    return "\n".join(lines)


def _change_summary(changes: dict) -> str:
    parts = []
    for field, label in (("status", "Status"), ("severity", "Severity")):
        if field in changes and isinstance(changes[field], list) and len(changes[field]) == 2:
            old, new = changes[field]
            if old:
                parts.append(f"{label}: {escape(str(old))} → {escape(str(new))}")
    return "; ".join(parts)


@dataclass(frozen=True)
class TopicItem:
    severity: str
    key: str
    title: str
    maintenance: bool = False  # an active maintenance: listed after every incident, with its own emoji


def channel_topic(items: Iterable[TopicItem], *, limit: int = TOPIC_MAX) -> str:
    """The channel topic as the status display: one line per open incident, most severe first.

    Lines are `<emoji> DCL-N <title>`. When they don't all fit in ``limit`` (counted as
    Slack does, after escaping), every title gets a fair share: short titles stay whole and
    what is left is split evenly among the longer ones, each cut with "…". If even the keys
    don't fit, the least severe incidents are summed up in a last "+N more" line.
    """
    # Stable: callers' order (oldest first) within a severity; active maintenance after the incidents.
    ordered = sorted(items, key=lambda i: (i.maintenance, i.severity))
    if not ordered:
        return ALL_CLEAR_TOPIC
    prefixes = [
        f"{MAINTENANCE_EMOJI if i.maintenance else SEVERITY_EMOJI[Severity(i.severity)]} {escape(i.key)} "
        for i in ordered
    ]
    titles = [escape(" ".join(i.title.split())) for i in ordered]
    for shown in range(len(ordered), -1, -1):
        more = len(ordered) - shown
        tail = [f"+{more} more open incident{'s' if more != 1 else ''}"] if more else []
        fixed = sum(slack_len(p) for p in prefixes[:shown]) + sum(slack_len(t) for t in tail)
        fixed += max(0, shown + len(tail) - 1)  # newlines
        minimum = sum(min(slack_len(t), TOPIC_MIN_TITLE) for t in titles[:shown])
        if fixed + minimum <= limit or shown == 0:
            break
    budgets = _fair_shares([slack_len(t) for t in titles[:shown]], limit - fixed)
    lines = [p + _cut(t, b) for p, t, b in zip(prefixes[:shown], titles[:shown], budgets, strict=True)]
    return "\n".join(lines + tail)


def _fair_shares(lengths: list[int], budget: int) -> list[int]:
    """Water-filling: titles shorter than an even share keep their length, the rest share what is left."""
    shares = [0] * len(lengths)
    remaining = budget
    pending = sorted(range(len(lengths)), key=lambda i: lengths[i])
    while pending:
        share = max(0, remaining // len(pending))
        i = pending[0]
        if lengths[i] <= share:
            shares[i] = lengths[i]
            remaining -= lengths[i]
            pending.pop(0)
            continue
        for j in pending:
            shares[j] = share
        break
    return shares


def _cut(text: str, units: int) -> str:
    """``text`` in at most ``units`` (Slack's count), cut with "…" without splitting a character,
    a combining mark from its letter, an emoji sequence, or an ``&amp;`` escape."""
    if slack_len(text) <= units:
        return text
    if units <= 0:
        return ""
    room = units - slack_len(ELLIPSIS)
    end, used = 0, 0
    while end < len(text) and used + slack_len(text[end]) <= room:
        used += slack_len(text[end])
        end += 1
    while 0 < end < len(text) and (_joins_previous(text[end]) or text[end - 1] == "\u200d"):
        end -= 1
    amp = text.rfind("&", 0, end)
    if amp != -1 and ";" not in text[amp:end]:
        end = amp
    return text[:end].rstrip() + ELLIPSIS


def _joins_previous(char: str) -> bool:
    """Combining marks, variation selectors, ZWJ, skin tones, keycap: part of the character before."""
    code = ord(char)
    return (
        unicodedata.combining(char) != 0
        or unicodedata.category(char) in ("Mn", "Me")
        or code in (0x200D, 0x20E3)
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
    )
