"""The only module that calls Slack's Web API.

Request-path calls (`views.open`/`views.update`, whose trigger expires in 3 s) use a
short timeout and no retries; the worker uses `worker_client()` with retries.
"""

from django.conf import settings
from slack_sdk import WebClient

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
    import logging

    from slack_sdk.errors import SlackApiError as _ApiError
    from slack_sdk.errors import SlackClientError as _ClientError

    log = logging.getLogger(__name__)
    if not slack_enabled():
        log.warning("%s skipped: SLACK_BOT_TOKEN is not set", method)
        return "Slack is not configured on this server (SLACK_BOT_TOKEN is empty)"
    try:
        call()
    except _ApiError as exc:
        error = exc.response.get("error", "unknown_error") if exc.response is not None else "unknown_error"
        log.warning("%s failed: %s", method, error)
        return f"Slack said `{error}`"
    except (_ClientError, OSError) as exc:
        log.warning("%s failed: %r", method, exc)
        return "Slack did not answer in time"
    return None
