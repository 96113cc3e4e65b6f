"""Print the Slack app manifest (YAML) to paste into https://api.slack.com/apps → Create New App → From a manifest."""

import yaml
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from slackbridge.commands import COMMANDS

# The Web API methods the code calls and the bot scopes each needs (Slack's method pages), so the
# manifest asks for exactly what is used; a test checks the table against the code. The bot is
# invited to the incidents channel, so chat:write.public is not needed.
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "conversations.setTopic": ("channels:write.topic", "groups:write.topic"),  # public / private channel
    "users.info": ("users:read",),
    # Reading back a post whose answer was lost (worker killed mid-post), so it is not posted twice.
    "conversations.history": ("channels:history", "groups:history"),  # public / private channel
    "conversations.replies": ("channels:history", "groups:history"),
    # Incident channels and the postmortem draft (SPEC §9, docs/SLACK.md "Responders"): only for these features.
    "conversations.create": ("channels:manage",),
    "conversations.invite": ("channels:manage",),
    "conversations.archive": ("channels:manage",),
    "bookmarks.add": ("bookmarks:write",),
    "chat.getPermalink": (),
    "files.upload_v2": ("files:write",),  # files.getUploadURLExternal + files.completeUploadExternal
    "views.open": (),
    "views.update": (),
}
BOT_SCOPES = ["commands", *dict.fromkeys(scope for scopes in METHOD_SCOPES.values() for scope in scopes)]
APP_NAME_MAX = 35  # Slack's manifest: display_information.name


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
        if not socket_mode and not url.startswith("https://"):
            raise CommandError(
                "Give the server's public https origin (Slack calls only https request URLs), "
                "e.g. --url https://crashbot.example.com"
            )
        if not 1 <= len(name) <= APP_NAME_MAX:
            raise CommandError(f"--name must be 1 to {APP_NAME_MAX} characters (Slack's limit for an app name).")
        manifest = build_manifest(url=url, name=name, socket_mode=socket_mode)
        self.stdout.write(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True), ending="")
