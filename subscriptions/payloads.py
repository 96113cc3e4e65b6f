"""Pure builders of what subscribers receive: webhook body and signature, Slack message, email parts.

They take an `EventView` (the event with everything public about it already loaded) and a
subscriber's links, and return bytes, dicts or strings: no database, no network.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from email.utils import make_msgid

from incidents.api import statuspage
from incidents.models import ComponentStatus
from subscriptions.models import EventKind

SECTION_MAX = 3000  # Slack's limit for a section block's text
COMPONENT_STATUS_LABEL = dict(ComponentStatus.choices)


@dataclass
class EventView:
    """One event as the public may see it, loaded once per batch by `subscriptions.delivery`."""

    kind: str
    key: str  # the incident key (DCL-12) or the component slug
    title: str  # incident title or component name
    status_label: str  # "Identified", "Resolved", "Major outage"
    message: str  # the public text of this entry
    url: str  # incident page (or status page for a component)
    occurred_at: datetime
    page: dict  # {"id", "status_indicator", "status_description"}
    body: dict  # the webhook body without `meta` (incident or component_update + component)
    components: list[str]  # names of affected components
    thread_root: str = ""  # Message-ID of the incident's first mail (threading)
    message_id: str = ""  # Message-ID for this event's mail


@dataclass(frozen=True)
class Links:
    manage: str
    unsubscribe: str
    documentation: str


def webhook_body(view: EventView, *, links: Links, generated_at: datetime) -> bytes:
    """Statuspage's webhook shape (SPEC §7): meta, page, then the incident or the component update."""
    meta = {
        "unsubscribe": links.unsubscribe,
        "documentation": links.documentation,
        "generated_at": statuspage.iso(generated_at),
    }
    return json.dumps({"meta": meta, "page": view.page, **view.body}, ensure_ascii=False).encode()


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    """`X-Crashbot-Signature`: `v1=` + hex HMAC-SHA256 keyed with the secret (its hex text) over `<ts>.<body>`."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def slack_escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters (as slackbridge does)."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_message(view: EventView, *, links: Links, page_name: str) -> dict:
    """A Block Kit message for a subscriber's incoming webhook; everything typed by people is escaped."""
    title = f"{view.key} {view.title}" if view.kind != EventKind.COMPONENT_UPDATED else view.title
    headline = f"*<{view.url}|{slack_escape(_cut(title, 300))}>* — {slack_escape(view.status_label)}"
    text = headline
    if view.message:
        text += "\n" + slack_escape(_cut(view.message, 2400))
    context = []
    if view.components:
        context.append("Affects: " + slack_escape(_cut(", ".join(view.components), 1000)))
    context.append(f"<{links.manage}|Manage subscription> · {slack_escape(page_name)} status")
    return {
        "text": f"{page_name} status: {title} — {view.status_label}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SECTION_MAX)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(c, 2000)} for c in context]},
        ],
    }


def email_subject(view: EventView, *, page_name: str) -> str:
    """`[<STATUS_PAGE_NAME> status] DCL-N <title> — <Status>` (SPEC §7); one line."""
    what = view.title if view.kind == EventKind.COMPONENT_UPDATED else f"{view.key} {view.title}"
    return " ".join(f"[{page_name} status] {what} — {view.status_label}".split())


def message_ids(*, incident_key: str, update_number: int | None, domain: str) -> tuple[str, str]:
    """(root, this) Message-IDs: every mail of an incident replies to the same root, so it threads."""
    root = f"<{incident_key.lower()}.incident@{domain}>"
    if update_number is None:
        return root, make_msgid(domain=domain)
    return root, f"<{incident_key.lower()}.{update_number}@{domain}>"
