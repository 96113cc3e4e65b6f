"""Print the Slack app manifest (YAML) to paste into https://api.slack.com/apps → Create New App → From a manifest."""

import yaml
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from slackbridge.commands import COMMANDS

# Bot scopes for both directions. Inbound: `commands` (slash commands). Outbound worker:
# headline + thread (chat:write; chat:write.public posts to public channels the bot has not
# joined), channel topic (channels:manage for public, groups:write for private channels),
# reading the channel (channels:read / groups:read) and display names (users:read).
# Responders (SPEC §9): an incident's own channel is created, joined, archived and its topic set with
# channels:manage (already above); bookmarks:write bookmarks its incident page; files:write uploads the
# postmortem draft into the thread. Nothing else is asked for these features.
BOT_SCOPES = [
    "commands",
    "chat:write",
    "chat:write.public",
    "channels:read",
    "channels:manage",
    "groups:read",
    "groups:write",
    "users:read",
    "bookmarks:write",
    "files:write",
]


def build_manifest(*, url: str, name: str, socket_mode: bool) -> dict:
    commands_url = url + reverse("slackbridge:commands")
    slash_commands = []
    for command in COMMANDS:
        entry = {
            "command": command.name(),
            "description": command.summary[:100],
            "usage_hint": command.hint[:100],
            "should_escape": False,
        }
        if not socket_mode:
            entry["url"] = commands_url
        slash_commands.append(entry)
    interactivity = {"is_enabled": True}
    if not socket_mode:
        interactivity["request_url"] = url + reverse("slackbridge:interactions")
    return {
        "display_information": {
            "name": name,
            "description": "Incident desk: open, update and list incidents from Slack.",
            "background_color": "#1d1c1d",
        },
        "features": {
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": slash_commands,
        },
        "oauth_config": {"scopes": {"bot": BOT_SCOPES}},
        "settings": {
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }


class Command(BaseCommand):
    help = "Print the Slack app manifest (YAML) with the slash commands, interactivity URL and bot scopes."

    def add_arguments(self, parser):
        parser.add_argument("--url", default=settings.PUBLIC_BASE_URL, help="Public https origin of this server.")
        parser.add_argument("--name", default="Crashbot", help="App and bot display name.")
        parser.add_argument(
            "--socket-mode", action="store_true", help="No request URLs: the app connects out with SLACK_APP_TOKEN."
        )

    def handle(self, *args, url: str, name: str, socket_mode: bool, **options):
        url = (url or "").rstrip("/")
        if not socket_mode and not url.startswith(("https://", "http://")):
            raise CommandError("Give the server's public origin, e.g. --url https://crashbot.example.com")
        manifest = build_manifest(url=url, name=name, socket_mode=socket_mode)
        self.stdout.write(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True), ending="")
