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
