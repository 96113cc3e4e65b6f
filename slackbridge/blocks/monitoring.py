"""Pure builders for probe alerts in the incidents channel (SPEC §10): one message when a
component goes down (or slow), one when it recovers, and the create modal prefilled from
the alert's "Open incident" button. No database, no network."""

from __future__ import annotations

import json
from datetime import timedelta

from incidents.models import Component, ComponentStatus
from slackbridge.blocks.messages import escape, format_duration

ACTION_PROBE_OPEN_INCIDENT = "probe_open_incident"
BUTTON_VALUE_MAX = 2000  # Slack's limit for a button's value
NOTE_MAX = 1500
VALUE_NOTE_MAX = 900

STATUS_WORDS = {
    ComponentStatus.MAJOR_OUTAGE: (":red_circle:", "is down"),
    ComponentStatus.DEGRADED_PERFORMANCE: (":large_yellow_circle:", "is slow"),
}


def component_alert(component: Component, *, status: str, note: str) -> tuple[str, list[dict]]:
    """`(text, blocks)` of the alert: what monitoring saw, and a button that opens a prefilled incident form."""
    emoji, words = STATUS_WORDS.get(status, (":warning:", "needs attention"))
    text = f"{emoji} {component.name} {words} (detected by monitoring)"
    detail = f"*{escape(component.name)}* {words} — detected by monitoring."
    if note:
        detail += f"\n>{escape(note[:NOTE_MAX])}"
    detail += "\nThe status page shows it until the probe recovers. No incident is open yet."
    # Even if every character of the note needed a JSON escape, the value stays within Slack's limit.
    value = json.dumps({"component": component.pk, "status": status, "note": note[:VALUE_NOTE_MAX]}, ensure_ascii=False)
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": detail}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": ACTION_PROBE_OPEN_INCIDENT,
                    "text": {"type": "plain_text", "text": "Open incident", "emoji": True},
                    "style": "danger",
                    "value": value,
                }
            ],
        },
    ]
    return text, blocks


def component_recovered(component: Component, *, down_for: timedelta | None) -> tuple[str, list[dict]]:
    text = f":white_check_mark: {component.name} recovered (detected by monitoring)"
    detail = f":white_check_mark: *{escape(component.name)}* answers normally again — detected by monitoring."
    if down_for is not None:
        detail += f" It was affected for {format_duration(down_for)}."
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": detail}}]


def read_button_value(value: object) -> tuple[int, str, str] | None:
    """(component id, status, note) from the button's value, or None if it is not ours."""
    try:
        data = json.loads(value) if isinstance(value, str) else None
        return int(data["component"]), str(data.get("status", "")), str(data.get("note", ""))
    except (TypeError, ValueError, KeyError):
        return None


def prefill_create_modal(view: dict, *, title: str, description: str, component_ids: list[int]) -> dict:
    """The create modal with title, description and components filled in (by block id), severity sev-2."""
    blocks = []
    for block in view.get("blocks", []):
        block = {**block}
        element = {**block.get("element", {})}
        block_id = block.get("block_id")
        if block_id == "title":
            element["initial_value"] = title[: element.get("max_length") or 120]
        elif block_id == "description":
            element["initial_value"] = description[:3000]
        elif block_id == "components":
            chosen = {str(pk) for pk in component_ids}
            initial = [o for o in element.get("options", []) if o.get("value") in chosen]
            if initial:
                element["initial_options"] = initial
        elif block_id == "severity":
            chosen = [o for o in element.get("options", []) if o.get("value") == "sev-2"]
            if chosen:
                element["initial_option"] = chosen[0]
        if "element" in block:
            block["element"] = element
        blocks.append(block)
    return {**view, "blocks": blocks}
