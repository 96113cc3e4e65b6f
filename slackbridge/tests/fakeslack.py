"""A fake Slack Web API server for tests (no Django).

Tests point a real ``slack_sdk.WebClient(token=..., base_url=fake.api_url)`` at it, so the whole HTTP path
(encoding, status codes, headers, the SDK's error handling) runs as in production, while the state Slack keeps
(messages, topics, users, modals, trigger ids) stays inspectable and faults (errors, 5xx, rate limits, latency)
can be injected per method.

Sign in with Slack (OpenID Connect: the authorize page, ``openid.connect.token``, ``openid.connect.userInfo``
and the JWKS) is served too; its ID tokens are signed with PyJWT and ``cryptography``, which come with
mozilla-django-oidc.

It is as strict as Slack where our code could otherwise get away with something (docs/SLACK.md
lists each rule with Slack's page): Block Kit payloads are checked against Slack's documented
limits and with slack_sdk's own models (``validate_json()``), a violation answering
``invalid_blocks``; ``chat.update`` and ``conversations.setTopic`` take channel ids only;
``chat.postMessage`` answers with the channel id whatever it was given; and, when switched on
(``post_rate_limit()``), posting to one channel faster than about one message a second gets
429 with ``Retry-After``. It also serves ``response_url`` posts (``response_url()``).
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

JSONDict = dict[str, Any]
Reply = tuple[int, JSONDict, dict[str, str]]  # HTTP status, JSON body, extra headers
TEAM_ID, BOT_USER_ID, BOT_ID, APP_ID = "T0CRASH", "U0CRASHBOT", "B0CRASH", "A0CRASH"
DEFAULT_CHANNEL = "C0INCIDENTS"
TOPIC_MAX = 250  # Slack rejects longer topics with ``too_long``.
_API = "/api/"
_JSON_ARGS = ("blocks", "attachments", "view", "metadata")  # arrive as JSON strings when form-encoded
_MESSAGE_ARGS = ("text", "blocks", "attachments")
_VIEW_META = ("id", "team_id", "app_id", "bot_id", "state", "root_view_id")
_RESPONSE = "/response/"
# The bot scope each served method needs (Slack's method pages); a method not listed needs none here.
# A token without it gets ``missing_scope`` with ``needed``, as from Slack.
METHOD_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.setTopic": "channels:write.topic",
    "conversations.info": "channels:read",
    "conversations.history": "channels:history",
    "conversations.replies": "channels:history",
    "users.info": "users:read",
}

# Slack's documented Block Kit limits (https://api.slack.com/reference/block-kit/blocks, …/composition-objects,
# …/block-elements, https://api.slack.com/reference/surfaces/views). docs/SLACK.md cites each one.
MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
SECTION_FIELD_MAX = 2000
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
OPTIONS_MAX = 100
OPTION_GROUPS_MAX = 100
VIEW_TITLE_MAX = 24
PRIVATE_METADATA_MAX = 3000
ID_MAX = 255  # block_id, action_id, callback_id
LABEL_MAX = 2000
PLACEHOLDER_MAX = 150
TEXT_MAX = 40000  # chat.postMessage `text` is truncated beyond this; we refuse, to notice


def block_errors(blocks: Any, *, limit: int) -> list[str]:
    """What Slack would refuse in ``blocks`` (``[]`` if nothing), each with a JSON pointer as Slack gives it."""
    if not isinstance(blocks, list):
        return ["must be an array [json-pointer:/blocks]"]
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(f"must contain at most {limit} blocks [json-pointer:/blocks]")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        errors += _block_errors(block, f"/blocks/{i}", block_ids)
        if isinstance(block, dict) and not any(e.startswith(f"/blocks/{i}") for e in errors):
            try:
                parsed = Block.parse(block)
                if parsed is None:
                    errors.append(f"unknown block type [json-pointer:/blocks/{i}/type]")
                else:
                    parsed.validate_json()
            except (SlackObjectFormationError, KeyError, TypeError, AttributeError) as exc:
                errors.append(f"{exc} [json-pointer:/blocks/{i}]")
    return errors


def _text_errors(obj: Any, where: str, *, limit: int, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return [f"must be a text object [json-pointer:{where}]"]
    if plain_only and obj["type"] != "plain_text":
        return [f"must be plain_text [json-pointer:{where}/type]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"must be more than 0 characters [json-pointer:{where}/text]"]
    if len(text) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{where}/text]"]
    return []


def _id_errors(obj: dict, key: str, where: str, seen: set[str] | None = None) -> list[str]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, str) or not value or len(value) > ID_MAX:
        return [f"must be 1..{ID_MAX} characters [json-pointer:{where}/{key}]"]
    if seen is not None:
        if value in seen:
            return [f"must be unique [json-pointer:{where}/{key}]"]
        seen.add(value)
    return []


def _option_errors(options: Any, where: str) -> list[str]:
    if not isinstance(options, list) or not options:
        return [f"must be a non-empty array [json-pointer:{where}]"]
    errors = [f"must contain at most {OPTIONS_MAX} items [json-pointer:{where}]"] if len(options) > OPTIONS_MAX else []
    for i, opt in enumerate(options):
        if not isinstance(opt, dict):
            errors.append(f"must be an object [json-pointer:{where}/{i}]")
            continue
        errors += _text_errors(opt.get("text"), f"{where}/{i}/text", limit=OPTION_TEXT_MAX)
        value = opt.get("value")
        if not isinstance(value, str) or not value or len(value) > OPTION_VALUE_MAX:
            errors.append(f"must be 1..{OPTION_VALUE_MAX} characters [json-pointer:{where}/{i}/value]")
    return errors


def _element_errors(element: Any, where: str) -> list[str]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [f"must be an element object [json-pointer:{where}]"]
    errors = _id_errors(element, "action_id", where)
    kind = element["type"]
    if kind == "button":
        errors += _text_errors(element.get("text"), f"{where}/text", limit=BUTTON_TEXT_MAX, plain_only=True)
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > BUTTON_VALUE_MAX):
            errors.append(f"must be at most {BUTTON_VALUE_MAX} characters [json-pointer:{where}/value]")
    if "placeholder" in element:
        errors += _text_errors(element["placeholder"], f"{where}/placeholder", limit=PLACEHOLDER_MAX, plain_only=True)
    if kind in ("static_select", "multi_static_select", "checkboxes", "radio_buttons", "overflow"):
        if "option_groups" in element:
            groups = element["option_groups"]
            if not isinstance(groups, list) or not groups or len(groups) > OPTION_GROUPS_MAX:
                errors.append(f"must contain 1..{OPTION_GROUPS_MAX} groups [json-pointer:{where}/option_groups]")
            else:
                total = 0
                for g, group in enumerate(groups):
                    options = group.get("options") if isinstance(group, dict) else None
                    total += len(options) if isinstance(options, list) else 0
                    errors += _option_errors(options, f"{where}/option_groups/{g}/options")
                if total > OPTIONS_MAX:
                    errors.append(f"must contain at most {OPTIONS_MAX} options [json-pointer:{where}/option_groups]")
        else:
            errors += _option_errors(element.get("options"), f"{where}/options")
    if kind == "plain_text_input":
        max_length = element.get("max_length")
        if max_length is not None and not (isinstance(max_length, int) and 1 <= max_length <= 3000):
            errors.append(f"must be 1..3000 [json-pointer:{where}/max_length]")
        initial = element.get("initial_value")
        if isinstance(initial, str) and len(initial) > 3000:
            errors.append(f"must be at most 3000 characters [json-pointer:{where}/initial_value]")
    return errors


def _block_errors(block: Any, where: str, block_ids: set[str]) -> list[str]:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return [f"must be a block object [json-pointer:{where}]"]
    errors = _id_errors(block, "block_id", where, block_ids)
    kind = block["type"]
    if kind == "header":
        errors += _text_errors(block.get("text"), f"{where}/text", limit=HEADER_TEXT_MAX, plain_only=True)
    elif kind == "section":
        if "text" not in block and "fields" not in block:
            errors.append(f"must have text or fields [json-pointer:{where}]")
        if "text" in block:
            errors += _text_errors(block["text"], f"{where}/text", limit=SECTION_TEXT_MAX)
        if "fields" in block:
            fields = block["fields"]
            if not isinstance(fields, list) or not fields or len(fields) > SECTION_FIELDS_MAX:
                errors.append(f"must contain 1..{SECTION_FIELDS_MAX} fields [json-pointer:{where}/fields]")
            else:
                for f, text in enumerate(fields):
                    errors += _text_errors(text, f"{where}/fields/{f}", limit=SECTION_FIELD_MAX)
        if "accessory" in block:
            errors += _element_errors(block["accessory"], f"{where}/accessory")
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements or len(elements) > CONTEXT_ELEMENTS_MAX:
            errors.append(f"must contain 1..{CONTEXT_ELEMENTS_MAX} elements [json-pointer:{where}/elements]")
        else:
            for e, element in enumerate(elements):
                if isinstance(element, dict) and element.get("type") in ("plain_text", "mrkdwn"):
                    errors += _text_errors(element, f"{where}/elements/{e}", limit=SECTION_TEXT_MAX)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements or len(elements) > ACTIONS_ELEMENTS_MAX:
            errors.append(f"must contain 1..{ACTIONS_ELEMENTS_MAX} elements [json-pointer:{where}/elements]")
        else:
            for e, element in enumerate(elements):
                errors += _element_errors(element, f"{where}/elements/{e}")
    elif kind == "input":
        errors += _text_errors(block.get("label"), f"{where}/label", limit=LABEL_MAX, plain_only=True)
        if "hint" in block:
            errors += _text_errors(block["hint"], f"{where}/hint", limit=LABEL_MAX, plain_only=True)
        errors += _element_errors(block.get("element"), f"{where}/element")
    return errors


def view_errors(view: Any) -> list[str]:
    """What Slack would refuse in a modal (blocks as above, plus the view's own limits)."""
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        return ["must be a modal or home view [json-pointer:/view/type]"]
    errors = []
    for key in ("title", "submit", "close"):
        if key in view or key == "title" and view["type"] == "modal":
            errors += _text_errors(view.get(key), f"/view/{key}", limit=VIEW_TITLE_MAX, plain_only=True)
    metadata = view.get("private_metadata")
    if metadata is not None and (not isinstance(metadata, str) or len(metadata) > PRIVATE_METADATA_MAX):
        errors.append(f"must be at most {PRIVATE_METADATA_MAX} characters [json-pointer:/view/private_metadata]")
    errors += _id_errors(view, "callback_id", "/view")
    blocks = view.get("blocks")
    errors += block_errors(blocks, limit=VIEW_BLOCKS_MAX)
    if not errors:
        try:
            View(**{k: v for k, v in view.items() if k in _VIEW_FIELDS}).validate_json()
        except (SlackObjectFormationError, TypeError) as exc:
            errors.append(f"{exc} [json-pointer:/view]")
    return errors


_VIEW_FIELDS = (
    "type",
    "title",
    "blocks",
    "close",
    "submit",
    "private_metadata",
    "callback_id",
    "clear_on_close",
    "notify_on_close",
    "external_id",
)


class InvalidBlocks(Exception):
    """Raised inside handlers to answer ``invalid_blocks`` with Slack's list of errors."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Call:
    """One received API call; ``call["method"]`` works as well as ``call.method``."""

    method: str
    params: JSONDict  # query string + body merged, token removed
    at: float  # time.monotonic() when the request arrived
    http_status: int
    response: JSONDict
    token: str | None = None

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


@dataclass
class _Fault:
    """A canned reply that pre-empts normal handling; ``remaining=None`` means until cleared."""

    method: str | None
    remaining: int | None
    status: int
    error: str
    headers: dict[str, str] = field(default_factory=dict)


class SlackError(Exception):
    """Raised inside method handlers to answer ``{"ok": false, "error": code}``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default listen backlog (5) resets connections when many clients call at once.
    request_queue_size = 128

    def __init__(self, fake: FakeSlack) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    """Decodes requests the way slack_sdk encodes them and hands them to FakeSlack.

    The SDK always POSTs: a JSON body for e.g. chat.postMessage and views.open, a form body for most
    others, and only a query string for "GET" methods such as users.info. Real GETs work too.
    """

    server: _Server

    def do_POST(self) -> None:
        received = time.monotonic()
        url = urlsplit(self.path)
        params: JSONDict | None = dict(parse_qsl(url.query, keep_blank_values=True))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            if body and self.headers.get_content_type() == "application/json":
                params.update(json.loads(body))
            elif body:
                params.update(parse_qsl(body.decode(), keep_blank_values=True))
        except (ValueError, TypeError):
            params = None
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else None
        if auth.startswith("Basic ") and params is not None:  # an app's client id and secret (OAuth, OpenID)
            try:
                client_id, _, client_secret = base64.b64decode(auth[len("Basic ") :]).decode().partition(":")
            except ValueError:
                client_id = client_secret = ""
            params.setdefault("client_id", client_id)
            params.setdefault("client_secret", client_secret)
        if url.path.startswith(_API):
            status, reply, headers = self.server.fake._handle(url.path[len(_API) :], params, token, received)
        elif url.path.startswith(UPLOAD_PATH):
            status, reply, headers = self.server.fake._receive_upload(url.path[len(UPLOAD_PATH) :], body, received)
        elif url.path.startswith(_RESPONSE):
            status, reply, headers = self.server.fake._handle_response_url(url.path[len(_RESPONSE) :], params)
        elif url.path.startswith(OPENID_PATH):
            status, reply, headers = self.server.fake._handle_openid(url.path[len(OPENID_PATH) :], params, received)
        else:
            status, reply, headers = 404, {"ok": False, "error": "not_found"}, {}
        data = json.dumps(reply).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except ConnectionError:
            pass  # the client gave up, e.g. its timeout fired during an injected delay

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the record of requests is ``FakeSlack.calls``, not stderr."""


# --- channels per incident, bookmarks, permalinks and file uploads (issue 15) ----------------------------------
# Self-contained: FakeSlack inherits these handlers; their state is created on first use.
CHANNEL_NAME_MAX = 80  # Slack: lower case letters, digits, hyphens and underscores, at most 80 characters
_CHANNEL_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
UPLOAD_PATH = "/upload/v1/"  # where files.getUploadURLExternal's upload_url points (files.slack.com in Slack)


class _ChannelsAndFiles:
    """conversations.create/invite/archive/unarchive, bookmarks.add, chat.getPermalink and the
    three-step upload of ``files_upload_v2`` (files.getUploadURLExternal, POST to the upload URL,
    files.completeUploadExternal), following Slack's documented rules and errors."""

    channels: dict[str, JSONDict]
    users: dict[str, JSONDict]
    _lock: threading.RLock
    _messages: dict[str, list[JSONDict]]
    _calls: list[Call]
    _seq: itertools.count

    # state (created lazily so the rest of FakeSlack needs no change)
    @property
    def files(self) -> dict[str, JSONDict]:
        """file id -> {filename, length, title, content (bytes, once uploaded), shares: [(channel, thread_ts)]}."""
        if not hasattr(self, "_files"):
            self._files: dict[str, JSONDict] = {}
        return self._files

    def bookmarks(self, channel: str) -> list[JSONDict]:
        with self._lock:
            return copy.deepcopy(self.channels[channel].get("bookmarks", []))

    def channel_by_name(self, name: str) -> tuple[str, JSONDict]:
        with self._lock:
            for cid, chan in self.channels.items():
                if chan["name"] == name:
                    return cid, copy.deepcopy(chan)
        raise KeyError(name)

    def archive(self, channel: str) -> None:
        """Archive as a person would in Slack (the bot stays a member of the archived channel)."""
        with self._lock:
            self.channels[channel]["is_archived"] = True

    def file_content(self, file_id: str) -> bytes:
        with self._lock:
            return bytes(self.files[file_id].get("content") or b"")

    # conversations.* -----------------------------------------------------------------------------------------
    def _api_conversations_create(self, params: JSONDict) -> JSONDict:
        name = str(params.get("name") or "")
        if not name:
            raise SlackError("invalid_name_required")
        if len(name) > CHANNEL_NAME_MAX:
            raise SlackError("invalid_name_maxlength")
        if not set(name) <= _CHANNEL_NAME_CHARS:
            raise SlackError("invalid_name_specials")
        if not set(name) - set("-_"):
            raise SlackError("invalid_name_punctuation")
        if any(chan["name"] == name for chan in self.channels.values()):  # archived channels keep their names
            raise SlackError("name_taken")
        cid = f"C1{next(self._seq):08d}"
        private = str(params.get("is_private", "")).lower() in ("1", "true")
        self.channels[cid] = {"name": name, "topic": "", "members": [BOT_USER_ID], "is_private": private}
        return {"channel": self._channel_info(cid, self.channels[cid])}  # type: ignore[attr-defined]

    def _api_conversations_invite(self, params: JSONDict) -> JSONDict:
        cid, chan = self._channel(params.get("channel"))  # type: ignore[attr-defined]
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            raise SlackError("no_user")
        if len(users) > 1000:
            raise SlackError("too_many_users")
        if BOT_USER_ID in users:
            raise SlackError("cant_invite_self")
        if any(u not in self.users for u in users):
            raise SlackError("user_not_found")
        new = [u for u in users if u not in chan["members"]]
        if not new:
            raise SlackError("already_in_channel")
        chan["members"].extend(new)
        return {"channel": self._channel_info(cid, chan)}  # type: ignore[attr-defined]

    def _api_conversations_archive(self, params: JSONDict) -> JSONDict:
        name = str(params.get("channel") or "")
        cid, chan = self._channel(name, member=False)  # type: ignore[attr-defined]
        if chan.get("is_archived"):
            raise SlackError("already_archived")
        if BOT_USER_ID not in chan["members"]:
            raise SlackError("not_in_channel")
        if cid == DEFAULT_CHANNEL and chan["name"] == "general":
            raise SlackError("cant_archive_general")
        chan["is_archived"] = True
        return {}

    def _api_conversations_unarchive(self, params: JSONDict) -> JSONDict:
        """Slack documents that bot tokens cannot unarchive a conversation: refused, as there."""
        self._channel(params.get("channel"), member=False)  # type: ignore[attr-defined]
        raise SlackError("method_not_supported_for_channel_type")

    # bookmarks.add, chat.getPermalink -------------------------------------------------------------------------
    def _api_bookmarks_add(self, params: JSONDict) -> JSONDict:
        cid, chan = self._channel(params.get("channel_id"))  # type: ignore[attr-defined]
        title, kind, link = (str(params.get(k) or "") for k in ("title", "type", "link"))
        if not title or not kind:
            raise SlackError("invalid_arguments")
        if kind != "link":
            raise SlackError("invalid_bookmark_type")
        if not link.startswith(("http://", "https://")):
            raise SlackError("invalid_link")
        bookmark = {"id": f"Bk{next(self._seq):08d}", "channel_id": cid, "title": title, "link": link, "type": kind}
        chan.setdefault("bookmarks", []).append(bookmark)
        return {"bookmark": copy.deepcopy(bookmark)}

    def _api_chat_getPermalink(self, params: JSONDict) -> JSONDict:
        cid, _ = self._channel(params.get("channel"), member=False)  # type: ignore[attr-defined]
        ts = str(params.get("message_ts") or "")
        self._find_message(cid, ts)  # type: ignore[attr-defined]
        return {"channel": cid, "permalink": f"https://crashbot-test.slack.com/archives/{cid}/p{ts.replace('.', '')}"}

    # files: the upload flow of files_upload_v2 -----------------------------------------------------------------
    def _api_files_getUploadURLExternal(self, params: JSONDict) -> JSONDict:
        filename = str(params.get("filename") or "")
        try:
            length = int(params.get("length"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments") from None
        if not filename or length < 1:
            raise SlackError("invalid_arguments")
        file_id = f"F0{next(self._seq):09d}"
        self.files[file_id] = {"filename": filename, "length": length, "content": None, "shares": []}
        return {"upload_url": self.url + UPLOAD_PATH + file_id, "file_id": file_id}  # type: ignore[attr-defined]

    def _receive_upload(self, file_id: str, body: bytes, received: float) -> Reply:
        with self._lock:
            pending = self.files.get(file_id)
            if pending is None or pending["content"] is not None:
                status, reply = 404, {"ok": False, "error": "file_not_found"}
            else:
                pending["content"] = body
                status, reply = 200, {"ok": True, "bytes": len(body)}
            self._calls.append(Call("upload", {"file_id": file_id, "bytes": len(body)}, received, status, reply))
            return status, reply, {}

    def _api_files_completeUploadExternal(self, params: JSONDict) -> JSONDict:
        try:
            files = json.loads(params["files"]) if isinstance(params.get("files"), str) else params.get("files")
        except (KeyError, ValueError):
            raise SlackError("invalid_arguments") from None
        if not isinstance(files, list) or not files:
            raise SlackError("invalid_arguments")
        for item in files:
            pending = self.files.get(str(item.get("id"))) if isinstance(item, dict) else None
            if pending is None:
                raise SlackError("file_not_found")
            if pending["content"] is None or len(pending["content"]) != pending["length"]:
                raise SlackError("file_upload_not_completed")
        channel, thread_ts = params.get("channel_id"), str(params.get("thread_ts") or "")
        if channel:
            cid, _ = self._channel(channel)  # type: ignore[attr-defined]
            if thread_ts:
                self._find_message(cid, thread_ts)  # type: ignore[attr-defined]
            msg = self._new_message({"text": params.get("initial_comment") or " "})  # type: ignore[attr-defined]
            msg["files"] = [{"id": f["id"], "title": f.get("title") or ""} for f in files]
            if thread_ts:
                msg["thread_ts"] = thread_ts
            self._messages.setdefault(cid, []).append(msg)
        done = []
        for item in files:
            stored = self.files[str(item["id"])]
            stored["title"] = item.get("title") or stored["filename"]
            if channel:
                stored["shares"].append((cid, thread_ts))
            done.append({"id": item["id"], "name": stored["filename"], "title": stored["title"]})
        return {"files": done}


# --- Sign in with Slack: OpenID Connect (issue 12) ----------------------------------------------------------
# Slack's endpoints (https://slack.com/.well-known/openid-configuration): the authorize page and the JWKS live
# outside /api/; openid.connect.token and openid.connect.userInfo are Web API methods answering {"ok": …}.
OPENID_PATH = "/openid/connect/"
OIDC_METHODS = ("openid.connect.token", "openid.connect.userInfo")
OIDC_ISSUER = "https://slack.com"
OIDC_CODE_TTL = 600.0  # seconds a code may wait to be exchanged
OIDC_TOKEN_TTL = 300  # the ID token's exp - iat, as in Slack's example


@dataclass
class OIDCIdentity:
    """Who the browser is signed in to Slack as (what Slack's consent screen would confirm)."""

    user_id: str
    email: str
    team_id: str = TEAM_ID
    name: str = ""
    email_verified: bool = True


class _OpenIDConnect:
    """Sign in with Slack as Slack does it, and as strictly: registered clients with their redirect URLs,
    single-use codes bound to client and redirect URL, RS256 ID tokens from a key published in the JWKS,
    userInfo for the access token only. Refusals use Slack's error codes."""

    _lock: threading.RLock
    _calls: list[Call]
    url: str

    def _oidc(self) -> JSONDict:
        if not hasattr(self, "_oidc_state"):
            from cryptography.hazmat.primitives.asymmetric import rsa

            self._oidc_state: JSONDict = {
                "clients": {},  # client_id -> (secret, redirect URLs)
                "codes": {},  # code -> grant
                "tokens": {},  # access token -> identity
                "key": rsa.generate_private_key(public_exponent=65537, key_size=2048),
                "kid": "fake-" + secrets.token_hex(4),
                "signed_in": None,
                "deny": False,
                "forge": False,
            }
        return self._oidc_state

    def oidc_client(self, client_id: str, client_secret: str, redirect_urls: tuple[str, ...]) -> None:
        """Register a Slack app's credentials and its redirect URLs (App settings → OAuth & Permissions)."""
        with self._lock:
            self._oidc()["clients"][client_id] = (client_secret, tuple(redirect_urls))

    def oidc_sign_in_as(self, identity: OIDCIdentity | None) -> None:
        """The Slack user whose browser session the authorize page sees (None: nobody, as when signed out)."""
        with self._lock:
            self._oidc()["signed_in"] = identity

    def oidc_deny_next(self) -> None:
        """The next authorize request is cancelled by the person (Slack redirects with error=access_denied)."""
        with self._lock:
            self._oidc()["deny"] = True

    def oidc_forge_tokens(self, forge: bool = True, **claims: Any) -> None:
        """Issue ID tokens a client must refuse: signed with a key that is not in the JWKS (``forge``), and/or
        with ``claims`` overridden (``aud="other"``, ``exp=0``, ``nonce=None`` to leave it out, …)."""
        with self._lock:
            self._oidc()["forge"] = forge
            self._oidc()["forged_claims"] = claims

    def oidc_authorize_url(self) -> str:
        return f"{self.url}{OPENID_PATH}authorize"

    def oidc_jwks_url(self) -> str:
        return f"{self.url}{OPENID_PATH}keys"

    def _handle_openid(self, path: str, params: JSONDict | None, received: float) -> Reply:
        with self._lock:
            if path == "keys":
                status, body, headers = 200, self._jwks(), {}
            elif path == "authorize":
                status, body, headers = self._authorize(params or {})
            else:
                status, body, headers = 404, {"ok": False, "error": "not_found"}, {}
            self._calls.append(Call(f"openid/connect/{path}", params or {}, received, status, body))
            return status, body, headers

    def _jwks(self) -> JSONDict:
        import jwt

        state = self._oidc()
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(state["key"].public_key()))
        return {"keys": [{**jwk, "kid": state["kid"], "alg": "RS256", "use": "sig"}]}

    def _authorize(self, params: JSONDict) -> Reply:
        """GET /openid/connect/authorize: an unknown client or redirect URL is an error page (never a
        redirect); other faults go back to the redirect URL with ``error``, as OAuth says."""
        state = self._oidc()
        client = state["clients"].get(params.get("client_id", ""))
        if client is None:
            return 400, {"ok": False, "error": "invalid_client_id"}, {}
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client[1]:
            return 400, {"ok": False, "error": "bad_redirect_uri"}, {}

        def back(**query: str) -> Reply:
            if params.get("state"):
                query["state"] = params["state"]
            return 302, {"ok": True}, {"Location": f"{redirect_uri}?{urlencode(query)}"}

        if params.get("response_type") != "code":
            return back(error="unsupported_response_type")
        scopes = set(params.get("scope", "").split())
        if "openid" not in scopes or not scopes <= {"openid", "email", "profile"}:
            return back(error="invalid_scope")
        if state["deny"]:
            state["deny"] = False
            return back(error="access_denied")
        identity: OIDCIdentity | None = state["signed_in"]
        if identity is None:
            return 401, {"ok": False, "error": "not_signed_in"}, {}
        code = f"{next(self._seq)}.{secrets.token_hex(16)}"
        state["codes"][code] = {
            "client_id": params["client_id"],
            "redirect_uri": redirect_uri,
            "nonce": params.get("nonce"),
            "scopes": scopes,
            "identity": identity,
            "at": time.monotonic(),
        }
        return back(code=code)

    def _claims(self, identity: OIDCIdentity, scopes: set[str]) -> JSONDict:
        claims: JSONDict = {
            "sub": identity.user_id,
            "https://slack.com/user_id": identity.user_id,
            "https://slack.com/team_id": identity.team_id,
        }
        if "email" in scopes:
            claims |= {"email": identity.email, "email_verified": identity.email_verified}
        if "profile" in scopes:
            claims |= {"name": identity.name or identity.user_id, "locale": "en-US"}
            claims |= {"given_name": "", "family_name": ""}
        return claims

    def _api_openid_connect_token(self, params: JSONDict, token: str | None) -> JSONDict:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import rsa

        state = self._oidc()
        client = state["clients"].get(params.get("client_id", ""))
        if client is None:
            raise SlackError("invalid_client_id")
        if params.get("client_secret") != client[0]:
            raise SlackError("bad_client_secret")
        if params.get("grant_type", "authorization_code") != "authorization_code":
            raise SlackError("invalid_grant_type")
        grant = state["codes"].pop(params.get("code", ""), None)  # single use, even when refused below
        if grant is None or grant["client_id"] != params["client_id"]:
            raise SlackError("invalid_code")
        if time.monotonic() - grant["at"] > OIDC_CODE_TTL:
            raise SlackError("invalid_code")
        if params.get("redirect_uri") != grant["redirect_uri"]:
            raise SlackError("bad_redirect_uri")
        access_token = "xoxp-" + secrets.token_hex(16)
        state["tokens"][access_token] = (grant["identity"], grant["scopes"])
        now = int(time.time())
        payload = {
            "iss": OIDC_ISSUER,
            "aud": grant["client_id"],
            "exp": now + OIDC_TOKEN_TTL,
            "iat": now,
            "auth_time": now,
            **self._claims(grant["identity"], grant["scopes"]),
        }
        if grant["nonce"]:
            payload["nonce"] = grant["nonce"]
        payload.update(state.get("forged_claims") or {})
        payload = {name: value for name, value in payload.items() if value is not None}
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if state["forge"] else state["key"]
        id_token = jwt.encode(payload, key, algorithm="RS256", headers={"kid": state["kid"]})
        return {"access_token": access_token, "token_type": "Bearer", "id_token": id_token}

    def _api_openid_connect_userInfo(self, params: JSONDict, token: str | None) -> JSONDict:
        state = self._oidc()
        if not token:
            raise SlackError("not_authed")
        if token not in state["tokens"]:
            raise SlackError("invalid_auth")
        identity, scopes = state["tokens"][token]
        return self._claims(identity, scopes)


class FakeSlack(_ChannelsAndFiles, _OpenIDConnect):
    """In-memory Slack workspace behind a real HTTP server on 127.0.0.1.

    Everything is guarded by one lock: the server answers each request on its own thread while the
    test thread inspects and reconfigures the fake.
    """

    def __init__(
        self, tokens: tuple[str, ...] = ("xoxb-test",), trigger_ttl: float = 3.0, scopes: set[str] | None = None
    ) -> None:
        self.tokens = set(tokens)
        self.scopes = set(METHOD_SCOPES.values()) if scopes is None else set(scopes)  # granted to every token
        self.trigger_ttl = trigger_ttl  # Slack's trigger ids die 3 s after the interaction
        self.channels: dict[str, JSONDict] = {}  # id -> {name, topic, members}
        self.users: dict[str, JSONDict] = {}
        self.views: dict[str, JSONDict] = {}
        self._lock = threading.RLock()
        self._calls: list[Call] = []
        self._messages: dict[str, list[JSONDict]] = {}
        self._ephemeral: dict[str, list[JSONDict]] = {}
        self._edits: dict[tuple[str, str], int] = {}
        self._triggers: dict[str, float] = {}
        self._faults: list[_Fault] = []
        self._delays: list[tuple[float, str | None, tuple[str, ...]]] = []
        self._seq = itertools.count(1)
        self._last_ts_us = 0
        self._post_rate: tuple[float, float] | None = None  # (messages per second, burst) when switched on
        self._buckets: dict[str, tuple[float, float]] = {}  # channel id -> (tokens, monotonic time)
        self.responses: dict[str, list[JSONDict]] = {}  # response_url key -> bodies posted to it
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.add_channel(DEFAULT_CHANNEL, "incidents")
        self.add_user(BOT_USER_ID, "crashbot", real_name="Crashbot", is_bot=True)
        self.add_user("U0POINT", "Ada Point", real_name="Ada Point")
        self.add_user("U0CONTACT", "Carl Contact", real_name="Carl Contact")

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> FakeSlack:
        """Bind an ephemeral port and serve from a daemon thread (idempotent)."""
        if self._server is None:
            self._server = _Server(self)
            # A short poll interval keeps stop() (and so every test teardown) fast.
            self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        """Value for ``WebClient(base_url=...)``; the SDK needs the trailing slash."""
        return self.url + _API

    # -- state set-up and inspection -----------------------------------------------------------------------
    def add_channel(self, channel_id: str, name: str, members: tuple[str, ...] = (BOT_USER_ID,)) -> None:
        with self._lock:
            self.channels[channel_id] = {"name": name, "topic": "", "members": [*members]}

    def remove_bot_from(self, channel: str) -> None:
        """Make calls that need membership fail with ``not_in_channel``."""
        with self._lock:
            self.channels[channel]["members"].remove(BOT_USER_ID)

    def add_user(self, user_id: str, display_name: str, real_name: str | None = None, is_bot: bool = False) -> None:
        real = real_name or display_name
        profile = {
            "display_name": display_name,
            "display_name_normalized": display_name,
            "real_name": real,
            "real_name_normalized": real,
            "team": TEAM_ID,
        }
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": display_name.lower().replace(" ", "."),
            "deleted": False,
            "real_name": real,
            "tz": "Europe/London",
            "is_bot": is_bot,
            "is_admin": False,
            "profile": profile,
        }
        with self._lock:
            self.users[user_id] = user

    def topic(self, channel: str) -> str:
        with self._lock:
            return str(self.channels[channel]["topic"])

    def messages(self, channel: str) -> list[JSONDict]:
        """Top-level messages in posting order (thread parents included, replies not)."""
        with self._lock:
            msgs = self._messages.get(channel, [])
            return copy.deepcopy([m for m in msgs if m.get("thread_ts", m["ts"]) == m["ts"]])

    def replies(self, channel: str, thread_ts: str) -> list[JSONDict]:
        """Replies in a thread in posting order, excluding the parent message."""
        with self._lock:
            msgs = self._messages.get(channel, [])
            return copy.deepcopy([m for m in msgs if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts])

    def message(self, channel: str, ts: str) -> JSONDict:
        with self._lock:
            return copy.deepcopy(self._find_message(channel, ts))

    def edit_count(self, channel: str, ts: str) -> int:
        """How many successful ``chat.update`` calls hit this message."""
        with self._lock:
            return self._edits.get((channel, ts), 0)

    def ephemerals(self, channel: str) -> list[JSONDict]:
        with self._lock:
            return copy.deepcopy(self._ephemeral.get(channel, []))

    def new_trigger(self) -> str:
        """Issue a trigger id as an interaction payload would: single-use, dead after ``trigger_ttl``."""
        with self._lock:
            trigger = f"{next(self._seq)}.{int(time.time())}.{secrets.token_hex(16)}"
            self._triggers[trigger] = time.monotonic()
            return trigger

    @property
    def calls(self) -> list[Call]:
        """Snapshot ordered by arrival; a delayed call shows up once it has been answered."""
        with self._lock:
            return sorted(self._calls, key=lambda c: c.at)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    # -- fault injection: the first matching fault (in the order added) answers, before auth and handling --
    def fail(self, method: str | None = None, error: str = "channel_not_found", times: int | None = None) -> None:
        """Answer HTTP 200 ``{"ok": false, "error": error}``, as Slack reports most failures."""
        self._add_fault(_Fault(method, times, 200, error))

    def http_error(self, status: int = 500, method: str | None = None, times: int | None = None) -> None:
        self._add_fault(_Fault(method, times, status, "fatal_error"))

    def rate_limit(self, retry_after: int = 2, method: str | None = None, times: int | None = 1) -> None:
        self._add_fault(_Fault(method, times, 429, "ratelimited", {"Retry-After": str(retry_after)}))

    def post_rate_limit(self, per_second: float = 1.0, burst: int = 1) -> None:
        """Switch on Slack's per-channel limit for ``chat.postMessage`` (about one message a second,
        short bursts allowed): beyond it, 429 with ``Retry-After``. Off by default so the suite stays fast."""
        with self._lock:
            self._post_rate = (per_second, float(burst))
            self._buckets.clear()

    def response_url(self, key: str = "") -> str:
        """A ``response_url`` as Slack puts in payloads; what is posted to it lands in ``responses[key]``."""
        key = key or secrets.token_hex(6)
        with self._lock:
            self.responses.setdefault(key, [])
        return f"{self.url}{_RESPONSE}{key}"

    def delay(self, seconds: float, method: str | None = None, except_methods: tuple[str, ...] = ()) -> None:
        """Sleep before answering matching calls (several matching delays add up)."""
        with self._lock:
            self._delays.append((seconds, method, tuple(except_methods)))

    def clear_faults(self) -> None:
        """Drop every injected failure and delay."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    def _add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    # -- request handling ----------------------------------------------------------------------------------
    def _handle(self, method: str, params: JSONDict | None, token: str | None, received: float) -> Reply:
        with self._lock:
            pause = sum(s for s, m, skip in self._delays if m in (None, method) and method not in skip)
        time.sleep(pause)  # outside the lock, so other calls are answered meanwhile
        with self._lock:
            param_token = params.pop("token", None) if params is not None else None
            token = token or param_token
            status, body, headers = self._respond(method, params, token)
            self._calls.append(Call(method, params or {}, received, status, body, token))
            return status, body, headers

    def _respond(self, method: str, params: JSONDict | None, token: str | None) -> Reply:
        for fault in self._faults:
            if fault.method in (None, method) and fault.remaining != 0:
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault.status, {"ok": False, "error": fault.error}, fault.headers
        if params is None:
            return 400, {"ok": False, "error": "invalid_json"}, {}
        if method in OIDC_METHODS:  # the app's client id and secret, or the user's OpenID token: no bot token
            try:
                return 200, {"ok": True, **getattr(self, "_api_" + method.replace(".", "_"))(params, token)}, {}
            except SlackError as err:
                return 200, {"ok": False, "error": err.code}, {}
        # Each Web API method is served by ``_api_<method with dots as underscores>``.
        name = "_api_" + method.replace(".", "_")
        handler: Callable[[JSONDict], JSONDict] | None = None if "_" in method else getattr(self, name, None)
        try:
            if handler is None:
                raise SlackError("unknown_method")
            if not token:
                raise SlackError("not_authed")
            if token not in self.tokens:
                raise SlackError("invalid_auth")
            needed = METHOD_SCOPES.get(method)
            if needed and needed not in self.scopes:
                provided = ",".join(sorted(self.scopes))
                return 200, {"ok": False, "error": "missing_scope", "needed": needed, "provided": provided}, {}
            for key in _JSON_ARGS:
                if isinstance(params.get(key), str):
                    params[key] = json.loads(params[key])
            return 200, {"ok": True, **handler(params)}, {}
        except RecursionError:
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        except ValueError:
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        except InvalidBlocks as err:
            body = {"ok": False, "error": "invalid_blocks", "errors": err.errors}
            return 200, {**body, "response_metadata": {"messages": [f"[ERROR] {e}" for e in err.errors]}}, {}
        except _RateLimited as limited:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(limited.retry_after)}
        except SlackError as err:
            return 200, {"ok": False, "error": err.code}, {}

    def _handle_response_url(self, key: str, params: JSONDict | None) -> Reply:
        """Slack's response_url: accepts a message (JSON) for 30 minutes, up to five times."""
        with self._lock:
            if key not in self.responses or params is None:
                return 404, {"ok": False, "error": "no_service"}, {}
            if len(self.responses[key]) >= 5:
                return 404, {"ok": False, "error": "used_url"}, {}
            if params.get("blocks") is not None and block_errors(params["blocks"], limit=MESSAGE_BLOCKS_MAX):
                return 400, {"ok": False, "error": "invalid_blocks"}, {}
            if not params.get("text") and not params.get("blocks"):
                return 400, {"ok": False, "error": "no_text"}, {}
            self.responses[key].append(dict(params))
            return 200, {"ok": True}, {}

    def _take_post_token(self, cid: str) -> None:
        if self._post_rate is None:
            return
        rate, burst = self._post_rate
        now = time.monotonic()
        tokens, last = self._buckets.get(cid, (burst, now))
        tokens = min(burst, tokens + (now - last) * rate)
        if tokens < 1:
            self._buckets[cid] = (tokens, now)
            raise _RateLimited(max(1, math.ceil((1 - tokens) / rate)))
        self._buckets[cid] = (tokens - 1, now)

    def _channel(self, ref: Any, member: bool = True, ids_only: bool = False) -> tuple[str, JSONDict]:
        """Resolve an id, or (where Slack allows it, ``chat.postMessage``) a name or ``#name``."""
        name = str(ref or "") if ids_only else str(ref or "").removeprefix("#")
        for cid, chan in self.channels.items():
            if name == cid or (not ids_only and name == chan["name"]):
                if member and BOT_USER_ID not in chan["members"]:
                    raise SlackError("not_in_channel")
                if member and chan.get("is_archived"):
                    raise SlackError("is_archived")
                return cid, chan
        raise SlackError("channel_not_found")

    def _channel_info(self, cid: str, chan: JSONDict) -> JSONDict:
        topic = {"value": chan["topic"], "creator": BOT_USER_ID, "last_set": 0}
        return {
            "id": cid,
            "name": chan["name"],
            "is_channel": True,
            "topic": topic,
            "is_member": BOT_USER_ID in chan["members"],
            "num_members": len(chan["members"]),
        }

    def _find_message(self, channel: str, ts: Any) -> JSONDict:
        for msg in self._messages.get(channel, []):
            if msg["ts"] == ts:
                return msg
        raise SlackError("message_not_found")

    def _next_ts(self) -> str:
        """Slack-style ``seconds.micros`` ts from the wall clock, unique and strictly increasing."""
        self._last_ts_us = max(self._last_ts_us + 100, time.time_ns() // 1000)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _new_message(self, params: JSONDict) -> JSONDict:
        if not any(params.get(k) for k in _MESSAGE_ARGS):
            raise SlackError("no_text")
        _check_message(params)
        msg = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": self._next_ts(),
            "text": params.get("text", ""),
        }
        msg.update({k: params[k] for k in ("blocks", "attachments", "thread_ts") if params.get(k)})
        metadata = params.get("metadata")
        if metadata is not None:
            # https://api.slack.com/metadata/using: an event_type and an event_payload object.
            if not isinstance(metadata, dict) or not isinstance(metadata.get("event_payload"), dict):
                raise SlackError("invalid_metadata_format")
            if not re.fullmatch(r"[a-z0-9_]{1,255}", str(metadata.get("event_type") or "")):
                raise SlackError("invalid_metadata_format")
            msg["metadata"] = copy.deepcopy(metadata)
        return msg

    def _read_messages(self, params: JSONDict, messages: list[JSONDict], *, newest_first: bool) -> JSONDict:
        """A page of ``conversations.history`` / ``conversations.replies``: ``oldest``/``latest`` bounds
        (exclusive unless ``inclusive``), ``limit`` (1..1000), an opaque ``cursor``; metadata only with
        ``include_all_metadata`` (https://api.slack.com/methods/conversations.history)."""
        inclusive = str(params.get("inclusive", "")).lower() in ("1", "true")
        oldest, latest = float(params.get("oldest") or 0), float(params.get("latest") or math.inf)
        limit = int(params.get("limit") or 100)
        if not 1 <= limit <= 1000:
            raise SlackError("invalid_limit")

        def inside(ts: str) -> bool:
            t = float(ts)
            return (oldest <= t <= latest) if inclusive else (oldest < t < latest)

        chosen = [m for m in messages if inside(m["ts"])]
        if newest_first:
            chosen.reverse()
        start = int(base64.b64decode(params["cursor"]).decode()) if params.get("cursor") else 0
        page = copy.deepcopy(chosen[start : start + limit])
        if str(params.get("include_all_metadata", "")).lower() not in ("1", "true"):
            for m in page:
                m.pop("metadata", None)
        more = start + limit < len(chosen)
        cursor = base64.b64encode(str(start + limit).encode()).decode() if more else ""
        return {"messages": page, "has_more": more, "response_metadata": {"next_cursor": cursor}}

    def _api_conversations_history(self, params: JSONDict) -> JSONDict:
        cid, _ = self._channel(params.get("channel"), ids_only=True)
        tops = [m for m in self._messages.get(cid, []) if m.get("thread_ts", m["ts"]) == m["ts"]]
        return self._read_messages(params, tops, newest_first=True)

    def _api_conversations_replies(self, params: JSONDict) -> JSONDict:
        cid, _ = self._channel(params.get("channel"), ids_only=True)
        parent = self._find_message(cid, params.get("ts"))
        thread = parent.get("thread_ts", parent["ts"])
        # As Slack: the parent first, then its replies, oldest first.
        in_thread = [m for m in self._messages.get(cid, []) if m["ts"] == thread or m.get("thread_ts") == thread]
        return self._read_messages(params, in_thread, newest_first=False)

    def _api_auth_test(self, params: JSONDict) -> JSONDict:
        return {
            "url": "https://crashbot-test.slack.com/",
            "team": "Crashbot Test",
            "user": "crashbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _api_chat_postMessage(self, params: JSONDict) -> JSONDict:
        cid, _ = self._channel(params.get("channel"))
        msg = self._new_message(params)
        self._take_post_token(cid)
        for parent in self._messages.get(cid, []):
            if parent["ts"] == msg.get("thread_ts"):  # as in Slack, the parent now heads a thread
                parent["thread_ts"] = parent["ts"]
                parent["reply_count"] = parent.get("reply_count", 0) + 1
        self._messages.setdefault(cid, []).append(msg)
        return {"channel": cid, "ts": msg["ts"], "message": copy.deepcopy(msg)}

    def _api_chat_update(self, params: JSONDict) -> JSONDict:
        cid, _ = self._channel(params.get("channel"), ids_only=True)
        _check_message(params)
        msg = self._find_message(cid, params.get("ts"))
        msg.update({k: params[k] for k in _MESSAGE_ARGS if k in params})
        msg["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        self._edits[(cid, msg["ts"])] = self._edits.get((cid, msg["ts"]), 0) + 1
        return {"channel": cid, "ts": msg["ts"], "text": msg["text"], "message": copy.deepcopy(msg)}

    def _api_chat_postEphemeral(self, params: JSONDict) -> JSONDict:
        cid, _ = self._channel(params.get("channel"))
        if params.get("user") not in self.users:
            raise SlackError("user_not_found")
        msg = {**self._new_message(params), "user": params["user"]}
        self._ephemeral.setdefault(cid, []).append(msg)
        return {"message_ts": msg["ts"]}

    def _api_conversations_info(self, params: JSONDict) -> JSONDict:
        return {"channel": self._channel_info(*self._channel(params.get("channel"), member=False))}

    def _api_conversations_setTopic(self, params: JSONDict) -> JSONDict:
        cid, chan = self._channel(params.get("channel"), ids_only=True)
        topic = str(params.get("topic", ""))
        if len(topic) > TOPIC_MAX:
            raise SlackError("too_long")
        chan["topic"] = topic
        return {"channel": self._channel_info(cid, chan)}

    def _api_users_info(self, params: JSONDict) -> JSONDict:
        user = self.users.get(str(params.get("user", "")))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": copy.deepcopy(user)}

    def _api_views_open(self, params: JSONDict) -> JSONDict:
        """views.open and views.push: spend the trigger (even when it turns out stale), then store the view."""
        issued = self._triggers.pop(str(params.get("trigger_id", "")), None)
        if issued is None:
            raise SlackError("invalid_trigger_id")
        if time.monotonic() - issued > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        view_id = f"V0{next(self._seq):09d}"
        meta = dict(zip(_VIEW_META, (view_id, TEAM_ID, APP_ID, BOT_ID, {"values": {}}, view_id), strict=True))
        return self._store_view(params.get("view"), meta)

    _api_views_push = _api_views_open

    def _api_views_update(self, params: JSONDict) -> JSONDict:
        view_id, external_id = params.get("view_id"), params.get("external_id")
        for old in self.views.values():
            if (view_id and old["id"] == view_id) or (external_id and old.get("external_id") == external_id):
                if params.get("hash") and params["hash"] != old["hash"]:
                    raise SlackError("hash_conflict")  # someone updated the view since that hash was issued
                return self._store_view(params.get("view"), {k: old[k] for k in _VIEW_META})
        raise SlackError("not_found")

    def _store_view(self, view: Any, meta: JSONDict) -> JSONDict:
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments")
        errors = view_errors(view)
        if errors:
            raise InvalidBlocks(errors)
        self.views[meta["id"]] = {**view, **meta, "hash": secrets.token_hex(8)}
        return {"view": copy.deepcopy(self.views[meta["id"]])}


class _RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def _check_message(params: JSONDict) -> None:
    """chat.postMessage / chat.update: blocks within Block Kit's limits, text within Slack's."""
    text = params.get("text")
    if isinstance(text, str) and len(text) > TEXT_MAX:
        raise SlackError("msg_too_long")
    if params.get("blocks") is not None:
        errors = block_errors(params["blocks"], limit=MESSAGE_BLOCKS_MAX)
        if errors:
            raise InvalidBlocks(errors)
