"""The only module that calls Slack's Web API.

Request-path calls (`views.open`/`views.update`, whose trigger expires in 3 s) use a
short timeout and no retries; the worker goes through `worker_call()`, which retries.
"""

import logging
import time
from http.client import HTTPException
from typing import Any

from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError, SlackRequestError

from crashbot.observability import count_slack_error

logger = logging.getLogger(__name__)

REQUEST_PATH_TIMEOUT = 2.5


def slack_enabled() -> bool:
    return bool(settings.SLACK_BOT_TOKEN)


def web_client(*, timeout: float = REQUEST_PATH_TIMEOUT) -> WebClient:
    """A client without automatic retries (the SDK retries connection errors by default)."""
    return WebClient(
        token=settings.SLACK_BOT_TOKEN,
        base_url=settings.SLACK_API_URL,
        timeout=timeout,
        retry_handlers=[],
    )


def open_view(*, trigger_id: str, view: dict) -> dict:
    return web_client().views_open(trigger_id=trigger_id, view=view).data


def update_view(*, view_id: str, view: dict, view_hash: str | None = None) -> dict:
    kwargs = {"hash": view_hash} if view_hash else {}
    return web_client().views_update(view_id=view_id, view=view, **kwargs).data


def try_open_view(*, trigger_id: str, view: dict) -> str | None:
    """Open a modal on the request path; None on success, else why not (for the user). Never raises."""
    return _try_view_call(lambda: open_view(trigger_id=trigger_id, view=view), "views.open")


def try_update_view(*, view_id: str, view: dict, view_hash: str | None = None) -> str | None:
    """Replace a modal on the request path; None on success, else why not. Never raises."""
    return _try_view_call(lambda: update_view(view_id=view_id, view=view, view_hash=view_hash), "views.update")


def _try_view_call(call, method: str) -> str | None:
    if not slack_enabled():
        logger.warning("%s skipped: SLACK_BOT_TOKEN is not set", method)
        return "Slack is not configured on this server (SLACK_BOT_TOKEN is empty)"
    try:
        call()
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown_error") if exc.response is not None else "unknown_error"
        count_slack_error(method=method, error=error)
        logger.warning("%s failed: %s", method, error)
        return f"Slack said `{error}`"
    except (SlackClientError, OSError) as exc:
        count_slack_error(method=method, error=type(exc).__name__)
        logger.warning("%s failed: %r", method, exc)
        return "Slack did not answer in time"
    return None


# --- Worker side ----------------------------------------------------------------------------------------------
# Everything below runs in the worker only, never on a request: it may wait (back-off, Retry-After).


# Error codes that no retry will fix: someone has to change configuration in Slack or in our settings.
PERMANENT_ERRORS = {
    "channel_not_found": "SLACK_INCIDENTS_CHANNEL ({channel}) is not a channel the bot can see: "
    "set it to the channel id (C…, from the channel's details) and invite the bot to it.",
    "not_in_channel": "the bot is not a member of {channel}: invite it with /invite @<bot name> in that channel.",
    "is_archived": "channel {channel} is archived: unarchive it or set SLACK_INCIDENTS_CHANNEL to another one.",
    "channel_is_archived": "channel {channel} is archived: unarchive it or set SLACK_INCIDENTS_CHANNEL to another one.",
    "invalid_auth": "SLACK_BOT_TOKEN is not valid: copy the Bot User OAuth Token (xoxb-…) from the Slack app's "
    "OAuth & Permissions page.",
    "not_authed": "SLACK_BOT_TOKEN is missing from the request: set it to the Bot User OAuth Token (xoxb-…).",
    "token_revoked": "SLACK_BOT_TOKEN was revoked: reinstall the Slack app and set the new token.",
    "token_expired": "SLACK_BOT_TOKEN has expired: reinstall the Slack app and set the new token.",
    "account_inactive": "the bot's Slack account is inactive: reinstall the Slack app and set the new token.",
    "missing_scope": "the Slack app lacks a scope ({detail}): add it under OAuth & Permissions and reinstall.",
    "no_permission": "the bot may not do this in {channel}: check the channel's posting permissions.",
    "restricted_action": "the workspace does not let the bot do this in {channel}: check its posting permissions.",
    "team_access_not_granted": "the token has no access to this workspace: reinstall the Slack app.",
}
# ok=false codes that mean "Slack is having trouble", retried like a 5xx.
TRANSIENT_ERRORS = {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}


class SlackCallError(Exception):
    """A Web API call failed; ``transient`` says whether trying again later may help.

    ``retry_after`` (seconds) is set when Slack said how long to wait (HTTP 429).
    """

    def __init__(
        self,
        method: str,
        code: str,
        *,
        transient: bool,
        status: int | None = None,
        retry_after: float | None = None,
        needed: str = "",
    ) -> None:
        detail = f" (needs {needed})" if needed else ""
        super().__init__(f"{method}: {code}{detail}" + (f" (HTTP {status})" if status else ""))
        self.method = method
        self.code = code
        self.transient = transient
        self.status = status
        self.retry_after = retry_after
        self.needed = needed  # for missing_scope: the scope Slack says is needed

    def hint(self, *, channel: str = "") -> str:
        """What a person has to fix, for permanent errors (empty for others)."""
        template = PERMANENT_ERRORS.get(self.code, "")
        detail = f"{self.method} needs `{self.needed}`" if self.needed else self.code
        return template.format(channel=channel or "the channel", detail=detail)


def worker_client() -> WebClient:
    return web_client(timeout=settings.SLACK_WORKER_TIMEOUT)


def worker_call(method: str, **params: Any) -> dict:
    """Call a Web API method from the worker, riding out short trouble.

    Connection errors, timeouts, 5xx and Slack's own "try later" codes are retried
    ``SLACK_RETRY_ATTEMPTS`` times with exponential back-off from ``SLACK_RETRY_BACKOFF``
    seconds. HTTP 429 waits exactly ``Retry-After`` (when that is at most
    ``SLACK_RETRY_MAX_WAIT``) and does not count as an attempt, so a rate limit is waited out,
    never hammered. What is left is raised as ``SlackCallError``; the task decides whether to
    come back later (transient) or to stop and say what to fix (permanent).
    """
    client = worker_client()
    attempts = max(1, settings.SLACK_RETRY_ATTEMPTS)
    failures = waits = 0
    waited = 0.0
    # The sync renews its lease before each call, so all waiting inside one call must end well
    # before the lease does; otherwise a second worker could take the item and post twice.
    budget = int(getattr(settings, "SLACK_SYNC_LEASE_SECONDS", 120)) / 2
    while True:
        error = _call_once(client, method, params)
        if isinstance(error, dict):
            return error
        count_slack_error(method=method, error=error.code)
        if not error.transient:
            raise error
        if error.retry_after is not None:
            waits += 1
            too_long = error.retry_after > settings.SLACK_RETRY_MAX_WAIT or waited + error.retry_after > budget
            if too_long or waits > RATE_LIMIT_MAX_WAITS:
                raise error
            logger.info("Slack rate-limited %s; waiting %.0f s as asked (Retry-After)", method, error.retry_after)
            time.sleep(error.retry_after)
            waited += error.retry_after
            continue
        failures += 1
        if failures >= attempts:
            raise error
        pause = settings.SLACK_RETRY_BACKOFF * 2 ** (failures - 1)
        if waited + pause > budget:
            raise error
        waited += pause
        logger.warning("Slack %s failed (%s); retry %d/%d in %.2f s", method, error.code, failures, attempts - 1, pause)
        time.sleep(pause)


RATE_LIMIT_MAX_WAITS = 5


def _call_once(client: WebClient, method: str, params: dict) -> dict | SlackCallError:
    """One HTTP call; the result data, or the error classified (never raised here)."""
    try:
        # The SDK's own method (chat_postMessage, users_info, …) encodes each method as Slack expects.
        return getattr(client, method.replace(".", "_"))(**params).data
    except SlackApiError as exc:
        response = exc.response
        status = response.status_code
        data = response.data if isinstance(response.data, dict) else {}
        code = str(data.get("error") or f"http_{status}")
        if status == 429:
            header = (response.headers or {}).get("Retry-After") or (response.headers or {}).get("retry-after")
            retry_after = _seconds(header)
            return SlackCallError(method, "ratelimited", transient=True, status=status, retry_after=retry_after)
        transient = status >= 500 or code in TRANSIENT_ERRORS
        return SlackCallError(method, code, transient=transient, status=status, needed=str(data.get("needed") or ""))
    except (OSError, TimeoutError, HTTPException, SlackRequestError) as exc:
        # urllib wraps refused connections and DNS failures in URLError (an OSError); timeouts are TimeoutError.
        return SlackCallError(method, type(exc).__name__, transient=True)


def _seconds(header: Any) -> float:
    if isinstance(header, list):
        header = header[0] if header else None
    try:
        return max(0.0, float(header))
    except (TypeError, ValueError):
        return 1.0


def post_message(*, channel: str, text: str, blocks: list | None = None, thread_ts: str = "") -> str:
    """Post a message (a thread reply when ``thread_ts``); returns its ``ts``."""
    return post_message_to(channel=channel, text=text, blocks=blocks, thread_ts=thread_ts)[1]


def post_message_to(
    *, channel: str, text: str, blocks: list | None = None, thread_ts: str = "", claim: str = ""
) -> tuple[str, str]:
    """Post a message; returns (channel id, ts) as Slack answered: the id is what later edits need.

    ``claim`` travels as the message's metadata, so ``find_claimed`` can tell later whether a post
    whose answer was lost reached Slack."""
    params: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False, "unfurl_media": False}
    if blocks is not None:
        params["blocks"] = blocks
    if thread_ts:
        params["thread_ts"] = thread_ts
    if claim:
        params["metadata"] = {"event_type": CLAIM_EVENT, "event_payload": {"claim": claim}}
    data = worker_call("chat.postMessage", **params)
    return str(data.get("channel") or channel), str(data["ts"])


CLAIM_EVENT = "crashbot_post"
FIND_PAGE = 200


def find_claimed(*, channel: str, claim: str, thread_ts: str = "", oldest: str = "") -> str:
    """The ts of the message posted with ``claim`` (in the thread ``thread_ts``, else among the channel's
    top-level messages since ``oldest``), or "" when Slack has none: Slack has no idempotency key for
    ``chat.postMessage``, so reading back is how a post in doubt is told from one never made."""
    params: dict[str, Any] = {"channel": channel, "include_all_metadata": True, "limit": FIND_PAGE}
    if thread_ts:
        params["ts"] = thread_ts
    if oldest:
        params["oldest"] = oldest
    while True:
        if thread_ts:
            data = worker_call("conversations.replies", **params)
        else:
            data = worker_call("conversations.history", **params)
        for message in data.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == CLAIM_EVENT and payload.get("claim") == claim:
                return str(message["ts"])
        cursor = (data.get("response_metadata") or {}).get("next_cursor")
        if not data.get("has_more") or not cursor:
            return ""
        params["cursor"] = cursor


def update_message(*, channel: str, ts: str, text: str, blocks: list | None = None) -> None:
    params: dict[str, Any] = {"channel": channel, "ts": ts, "text": text}
    if blocks is not None:
        params["blocks"] = blocks
    worker_call("chat.update", **params)


def set_topic(*, channel: str, topic: str) -> None:
    worker_call("conversations.setTopic", channel=channel, topic=topic)


def user_display_name(*, user_id: str) -> str:
    """The name Slack shows for a user: display name, else real name, else handle ("" if none)."""
    user = worker_call("users.info", user=user_id)["user"]
    profile = user.get("profile") or {}
    for name in (profile.get("display_name"), profile.get("real_name"), user.get("real_name"), user.get("name")):
        if name and str(name).strip():
            return str(name).strip()
    return ""


# --- incident channels and file uploads (SPEC §9) ---------------------------------------------------------------
def create_channel(*, name: str) -> dict:
    """``conversations.create`` (public); returns Slack's channel object (``id``, ``name``)."""
    return worker_call("conversations.create", name=name, is_private=False)["channel"]


def invite(*, channel: str, users: list[str]) -> None:
    worker_call("conversations.invite", channel=channel, users=",".join(users))


def archive_channel(*, channel: str) -> None:
    worker_call("conversations.archive", channel=channel)


def add_bookmark(*, channel: str, title: str, link: str) -> None:
    worker_call("bookmarks.add", channel_id=channel, title=title, type="link", link=link)


def permalink(*, channel: str, ts: str) -> str:
    return str(worker_call("chat.getPermalink", channel=channel, message_ts=ts)["permalink"])


def upload_text_file(*, channel: str, thread_ts: str, filename: str, title: str, content: str, comment: str) -> dict:
    """Upload a text file into a thread the way ``files_upload_v2`` does (it is the SDK's own method):
    ``files.getUploadURLExternal``, a POST of the bytes to the URL Slack gave, then
    ``files.completeUploadExternal`` that shares it. Returns the completion's data."""
    return worker_call(
        "files.upload_v2",
        channel=channel,
        thread_ts=thread_ts,
        filename=filename,
        title=title,
        content=content,
        initial_comment=comment,
    )
