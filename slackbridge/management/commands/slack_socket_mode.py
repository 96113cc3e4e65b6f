"""Serve the slash commands and interactions over Socket Mode (no public URL needed).

Slack authenticates the websocket with SLACK_APP_TOKEN (xapp-…), so there is no request
signature to check; the envelopes carry the same fields as the HTTP requests and go to the
same handlers. Each envelope is acknowledged with the handler's reply as its payload.
"""

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from slackbridge import commands as slash_commands
from slackbridge import interactions as slack_interactions
from slackbridge.request import Interaction, SlackRequestError, SlashCommand, public_base_url

logger = logging.getLogger(__name__)


def respond(req: SocketModeRequest) -> SocketModeResponse:
    """Run one envelope through the handlers and build its acknowledgement."""
    try:
        if req.type == "slash_commands":
            reply = slash_commands.handle(SlashCommand.from_fields(req.payload, base_url=public_base_url()))
        elif req.type == "interactive":
            reply = slack_interactions.handle(Interaction.from_payload(req.payload, base_url=public_base_url()))
        else:
            reply = None  # events_api and others: acknowledged, nothing to do
    except SlackRequestError as exc:
        logger.warning("Socket Mode envelope %s refused: %s", req.envelope_id, exc.reason)
        reply = None
    return SocketModeResponse(envelope_id=req.envelope_id, payload=reply)


class Command(BaseCommand):
    help = "Connect to Slack over Socket Mode (SLACK_APP_TOKEN) and serve the same commands and interactions."

    def handle(self, *args, **options):
        from slack_sdk import WebClient
        from slack_sdk.socket_mode import SocketModeClient

        if not settings.SLACK_APP_TOKEN.startswith("xapp-"):
            raise CommandError("Set SLACK_APP_TOKEN to the app-level token (xapp-…, scope connections:write).")
        socket = SocketModeClient(
            app_token=settings.SLACK_APP_TOKEN,
            web_client=WebClient(token=settings.SLACK_BOT_TOKEN or None, base_url=settings.SLACK_API_URL),
        )

        def listener(client: SocketModeClient, req: SocketModeRequest) -> None:
            # Listener threads live long: drop connections past CONN_MAX_AGE or broken, as a request would.
            close_old_connections()
            try:
                client.send_socket_mode_response(respond(req))
            finally:
                close_old_connections()

        socket.socket_mode_request_listeners.append(listener)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        socket.connect()
        self.stdout.write("Connected to Slack over Socket Mode; Ctrl-C to stop.")
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            socket.close()
