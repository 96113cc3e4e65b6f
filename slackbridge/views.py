"""The HTTP edge for Slack: verify → parse → dispatch, nothing else.

The signature is checked on the raw body before it is parsed or any table is read, and a
refused request gets a bare status (no detail for whoever is probing). The handlers answer
within Slack's 3 s: they write through the services and at most open or update a modal;
everything else Slack shows is left to the worker.
"""

import logging
from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from slackbridge import commands as slash_commands
from slackbridge import dedup
from slackbridge import interactions as slack_interactions
from slackbridge.request import (
    MAX_COMMAND_BODY,
    MAX_INTERACTION_BODY,
    Interaction,
    SlackRequestError,
    SlashCommand,
    check_body_size,
    form_fields,
    interaction_payload,
    public_base_url,
    verify_http_request,
)

logger = logging.getLogger(__name__)


def _command(fields: dict[str, str], request: HttpRequest, key: str) -> dict | None:
    cmd = SlashCommand.from_fields(fields, base_url=public_base_url(request))
    try:
        return dedup.once(key, lambda: slash_commands.handle(cmd))
    except DatabaseError:
        logger.exception("Slash command %s: the database failed", cmd.command)
        return slash_commands.database_unavailable_reply(cmd)


def _interaction(fields: dict[str, str], request: HttpRequest, key: str) -> dict | None:
    payload = interaction_payload(fields)
    interaction = Interaction.from_payload(payload, base_url=public_base_url(request))
    try:
        return dedup.once(key, lambda: slack_interactions.handle(interaction))
    except DatabaseError:
        logger.exception("Slack interaction %s: the database failed", interaction.type)
        return slack_interactions.database_unavailable_reply(interaction)


def _serve(
    request: HttpRequest, handler: Callable[[dict[str, str], HttpRequest, str], dict | None], *, max_body: int
) -> HttpResponse:
    """A database failure is answered (200, the handler's own words) rather than left to become a 500,
    which Slack would show as a bare "failed with the error" and the person would not know whether
    anything was saved.

    Slack's `ssl_check=1` probe comes unsigned: it gets an empty 200 before any signature work
    and nothing else is done with it. A repeat of a handled request gets the first reply (dedup).
    """
    try:
        if _is_ssl_check(request, max_body):
            return HttpResponse(status=200)
        body = verify_http_request(request, max_body=max_body)
        fields = form_fields(body)
        key = dedup.request_key(request.headers.get("X-Slack-Request-Timestamp", ""), body)
        reply = handler(fields, request, key)
    except SlackRequestError as exc:
        if exc.status == 401:
            return HttpResponse(status=401)  # no detail for whoever is probing
        return HttpResponse(exc.reason, status=exc.status, content_type="text/plain; charset=utf-8")
    if reply is None:
        return HttpResponse(status=200)
    return JsonResponse(reply)


def _is_ssl_check(request: HttpRequest, max_body: int) -> bool:
    """Slack's certificate probe: a small form with `ssl_check=1` (and a legacy token), sent unsigned."""
    check_body_size(request, max_body)
    try:
        return form_fields(request.body).get("ssl_check") == "1"
    except SlackRequestError:
        return False


@csrf_exempt
@require_POST
def commands(request: HttpRequest) -> HttpResponse:
    """Slash commands (Slack's "Request URL" for each command)."""
    return _serve(request, _command, max_body=MAX_COMMAND_BODY)


@csrf_exempt
@require_POST
def interactions(request: HttpRequest) -> HttpResponse:
    """Buttons and modal submissions (Slack's "Interactivity Request URL")."""
    return _serve(request, _interaction, max_body=MAX_INTERACTION_BODY)
