"""The HTTP edge for Slack: verify → parse → dispatch, nothing else.

The signature is checked on the raw body before it is parsed or any table is read, and a
refused request gets a bare status (no detail for whoever is probing). The handlers answer
within Slack's 3 s: they write through the services and at most open or update a modal;
everything else Slack shows is left to the worker.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from slackbridge import commands as slash_commands
from slackbridge import interactions as slack_interactions
from slackbridge.request import (
    Interaction,
    SlackRequestError,
    SlashCommand,
    form_fields,
    interaction_payload,
    public_base_url,
    verify_http_request,
)


def _command(fields: dict[str, str], request: HttpRequest) -> dict | None:
    return slash_commands.handle(SlashCommand.from_fields(fields, base_url=public_base_url(request)))


def _interaction(fields: dict[str, str], request: HttpRequest) -> dict | None:
    payload = interaction_payload(fields)
    return slack_interactions.handle(Interaction.from_payload(payload, base_url=public_base_url(request)))


def _serve(request: HttpRequest, handler: Callable[[dict[str, str], HttpRequest], dict | None]) -> HttpResponse:
    try:
        fields = form_fields(verify_http_request(request))
        if fields.get("ssl_check") == "1":
            return HttpResponse(status=200)
        reply = handler(fields, request)
    except SlackRequestError as exc:
        return HttpResponse(status=exc.status)
    if reply is None:
        return HttpResponse(status=200)
    return JsonResponse(reply)


@csrf_exempt
@require_POST
def commands(request: HttpRequest) -> HttpResponse:
    """Slash commands (Slack's "Request URL" for each command)."""
    return _serve(request, _command)


@csrf_exempt
@require_POST
def interactions(request: HttpRequest) -> HttpResponse:
    """Buttons and modal submissions (Slack's "Interactivity Request URL")."""
    return _serve(request, _interaction)
