"""Request objects: verify an HTTP request from Slack, then parse it into plain data.

The handlers in commands.py and interactions.py only ever see these objects, so the same
handlers serve the HTTP endpoints and Socket Mode (where Slack has already authenticated
the connection and hands us the same fields as a dict).
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import HttpRequest

from slackbridge import signature

# What a person sees when the database fails during their command: nothing they typed was
# kept, so they must know to send it again (their text is echoed back with it).
DATABASE_UNAVAILABLE = "Crashbot can't reach its database right now; nothing was saved — please retry."


class SlackRequestError(Exception):
    """A request we refuse before any handler runs; `status` is the HTTP status to answer."""

    status: int = 400

    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__(reason or str(status))
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class SlashCommand:
    """One slash command invocation (Slack's form fields, trimmed to what we use)."""

    command: str
    text: str
    user_id: str
    team_id: str = ""
    channel_id: str = ""
    trigger_id: str = ""
    base_url: str = ""

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any], *, base_url: str = "") -> "SlashCommand":
        command = str(fields.get("command") or "").strip()
        user_id = str(fields.get("user_id") or "").strip()
        if not command or not user_id:
            raise SlackRequestError(400, "A slash command needs `command` and `user_id`.")
        return cls(
            command=command.lower(),
            text=str(fields.get("text") or ""),
            user_id=user_id,
            team_id=str(fields.get("team_id") or ""),
            channel_id=str(fields.get("channel_id") or ""),
            trigger_id=str(fields.get("trigger_id") or ""),
            base_url=base_url,
        )


@dataclass(frozen=True)
class Interaction:
    """A block action or view submission (Slack's `payload` JSON)."""

    payload: dict = field(repr=False)
    base_url: str = ""

    @classmethod
    def from_payload(cls, payload: Any, *, base_url: str = "") -> "Interaction":
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            raise SlackRequestError(400, "An interaction payload must be a JSON object with a `type`.")
        if not isinstance(payload.get("user"), dict) or not payload["user"].get("id"):
            raise SlackRequestError(400, "An interaction payload must name its `user`.")
        return cls(payload=payload, base_url=base_url)

    @property
    def type(self) -> str:
        return self.payload["type"]

    @property
    def user_id(self) -> str:
        return str(self.payload["user"]["id"])

    @property
    def team_id(self) -> str:
        team = self.payload.get("team")
        if isinstance(team, dict) and team.get("id"):
            return str(team["id"])
        return str(self.payload["user"].get("team_id") or "")

    @property
    def trigger_id(self) -> str:
        return str(self.payload.get("trigger_id") or "")

    @property
    def response_url(self) -> str:
        """Where to send a message to the person who acted (block actions carry one; 30 minutes, 5 uses)."""
        url = self.payload.get("response_url")
        return url if isinstance(url, str) else ""

    @property
    def view(self) -> dict:
        view = self.payload.get("view")
        return view if isinstance(view, dict) else {}

    @property
    def actions(self) -> list[dict]:
        actions = self.payload.get("actions")
        return [a for a in actions if isinstance(a, dict)] if isinstance(actions, list) else []


# Slack's own bodies are a few KB; a modal submission carries the whole view (blocks, options,
# typed text) and stays well under 100 KB. Anything larger is refused with 413 before it is
# read, signed or parsed (docs/RELIABILITY.md).
MAX_COMMAND_BODY = 64 * 1024
MAX_INTERACTION_BODY = 512 * 1024


def check_body_size(request: HttpRequest, limit: int) -> None:
    """Refuse an oversized (or unmeasurable) body from its Content-Length, before reading it.

    Under WSGI a body without Content-Length reads as empty, so the declared length is the
    whole story; the read length is checked again for servers that stream.
    """
    declared = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(declared)
    except ValueError:
        raise SlackRequestError(400, "Content-Length is not a number.") from None
    if length > limit:
        raise SlackRequestError(413, f"The body is {length} bytes; the limit is {limit}.")


def verify_http_request(request: HttpRequest, *, max_body: int = MAX_INTERACTION_BODY) -> bytes:
    """Return the raw body if it carries a valid, fresh signature; raise 401 otherwise.

    Runs before the body is parsed or any table is touched; an oversized body is refused
    (413) before even the signature is computed.
    """
    check_body_size(request, max_body)
    body = request.body
    if len(body) > max_body:
        raise SlackRequestError(413)
    ok = signature.verify(
        secret=settings.SLACK_SIGNING_SECRET,
        timestamp=request.headers.get("X-Slack-Request-Timestamp"),
        signature=request.headers.get("X-Slack-Signature"),
        body=body,
    )
    if not ok:
        raise SlackRequestError(401)
    return body


def form_fields(body: bytes) -> dict[str, str]:
    """Decode a form body exactly as signed (last value wins, as in Slack's single-valued fields)."""
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SlackRequestError(400, "The body is not a UTF-8 form.") from exc


def interaction_payload(fields: Mapping[str, str]) -> Any:
    try:
        return json.loads(fields.get("payload") or "")
    except ValueError as exc:
        raise SlackRequestError(400, "The `payload` field is not JSON.") from exc
    except RecursionError as exc:  # e.g. 5,000 nested arrays: not a ValueError
        raise SlackRequestError(400, "The `payload` field is nested too deeply.") from exc


def team_allowed(team_id: str) -> bool:
    allowed = settings.SLACK_ALLOWED_TEAM_IDS
    return not allowed or team_id in allowed


def public_base_url(request: HttpRequest | None = None) -> str:
    """Origin for links sent to Slack: PUBLIC_BASE_URL when set, else the host Slack called."""
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    return ""
