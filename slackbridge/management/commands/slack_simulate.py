"""Send a signed slash command to a running Crashbot, as Slack would, and print the reply.

python manage.py slack_simulate "/create-incident sev-2 Marketplace down"
python manage.py slack_simulate "/update-incident DCL-1 monitoring Fix deployed" --url http://127.0.0.1:8000
"""

import html
import json
import secrets
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from slackbridge.signature import sign


def build_request(*, line: str, url: str, secret: str, user: str, team: str, channel: str) -> urllib.request.Request:
    command, _, text = line.strip().partition(" ")
    if not command.startswith("/"):
        raise CommandError('Start with the slash command, e.g. "/create-incident sev-2 Marketplace down".')
    fields = {
        "token": "simulated",
        "team_id": team,
        "team_domain": "simulated",
        "channel_id": channel,
        "channel_name": "incidents",
        "user_id": user,
        "user_name": "simulator",
        "command": command,
        # What a person types reaches us escaped, as Slack does it (SPEC §3): & < > as entities.
        "text": text.strip().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
        "api_app_id": "A0SIMULATE",
        "response_url": "https://hooks.slack.com/commands/simulated",
        "trigger_id": f"simulated.{int(time.time())}.{secrets.token_hex(8)}",
    }
    body = urlencode(fields).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": sign(secret=secret, timestamp=timestamp, body=body),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots) crashbot-simulate",
    }
    endpoint = url.rstrip("/") + "/slack/commands"
    return urllib.request.Request(endpoint, data=body, headers=headers, method="POST")  # noqa: S310 (http(s) checked)


class Command(BaseCommand):
    help = "Sign a slash command with SLACK_SIGNING_SECRET, post it to a running server and print the reply."

    def add_arguments(self, parser):
        parser.add_argument("line", help='The command line, e.g. "/create-incident sev-2 Marketplace down".')
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="The running server's origin.")
        parser.add_argument("--user", default="U0SIMULATOR", help="Slack user id to act as.")
        parser.add_argument("--team", default="T0SIMULATOR", help="Slack team id to send.")
        parser.add_argument("--channel", default="C0SIMULATOR", help="Slack channel id to send.")
        parser.add_argument("--secret", default=None, help="Signing secret (default: SLACK_SIGNING_SECRET).")
        parser.add_argument("--timeout", type=float, default=10.0)

    def handle(self, *args, line, url, user, team, channel, secret, timeout, **options):
        secret = secret if secret is not None else settings.SLACK_SIGNING_SECRET
        if not secret:
            raise CommandError("Set SLACK_SIGNING_SECRET (the same value the server uses) or pass --secret.")
        if not url.startswith(("http://", "https://")):
            raise CommandError("--url must be http(s)://host[:port]")
        request = build_request(line=line, url=url, secret=secret, user=user, team=team, channel=channel)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) checked)
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            raise CommandError(
                f"The server answered HTTP {exc.code}"
                + (" (is SLACK_SIGNING_SECRET the same on both sides?)" if exc.code == 401 else "")
            ) from exc
        except OSError as exc:
            raise CommandError(f"Could not reach {url}: {exc}") from exc
        if not body:
            self.stdout.write(f"HTTP {status}, empty reply (Slack would have opened a modal).")
            return
        reply = json.loads(body)
        # Slack would render the mrkdwn entities; a terminal shows them decoded.
        self.stdout.write(html.unescape(reply["text"]) if reply.get("text") else json.dumps(reply, indent=2))
