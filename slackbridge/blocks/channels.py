"""Pure builders for an incident's own channel: the summary posted in it and its topic."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings

from incidents.models import Incident, Status
from slackbridge.blocks.messages import (
    ELLIPSIS,
    TOPIC_MAX,
    _cut,
    escape,
    person,
    severity_text,
    slack_date,
    slack_len,
    status_text,
)

SECTION_TEXT_MAX = 3000


def summary_message(incident: Incident, *, components: Sequence[str], headline_link: str, page_url: str) -> dict:
    """The first message in the channel: what the incident is, who leads, and where the record lives."""
    key, cmd = incident.key, settings.SLACK_UPDATE_COMMAND
    lines = [
        f"*{key}* {escape(' '.join(incident.title.split()))}",
        f"{severity_text(incident.severity)} · {status_text(incident.status)}"
        f" · reported {slack_date(incident.reported_at)}",
        f"Point: {person(incident.point, incident.point_name)}"
        f" · Contact: {person(incident.contact, incident.contact_name)}",
        f"Components: {', '.join(escape(c) for c in components) or 'None'}",
    ]
    links = []
    if headline_link:
        links.append(f"<{headline_link}|Headline and timeline in the incidents channel>")
    if page_url:
        links.append(f"<{page_url}|Incident page>")
    if links:
        lines.append(" · ".join(links))
    lines.append(
        f"Commands work here too, with or without the key: `{cmd} monitoring <message>`, `{cmd} note <text>`, "
        f"`{cmd} {key} resolved <message>`."
    )
    text = "\n".join(lines)
    if len(text) > SECTION_TEXT_MAX:
        text = text[: SECTION_TEXT_MAX - 1] + ELLIPSIS
    return {
        "text": f"{key} {escape(incident.title)} — channel for this incident",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def channel_topic(incident: Incident) -> str:
    """`DCL-12 Marketplace down · sev-2 · Investigating`, cut to Slack's 250 characters."""
    tail = f" · {incident.severity} · {Status(incident.status).label}"
    head = f"{incident.key} {escape(' '.join(incident.title.split()))}"
    return _cut(head, TOPIC_MAX - slack_len(tail)) + tail
