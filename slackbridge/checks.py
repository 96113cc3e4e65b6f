"""Start-up checks (Django's system checks run by runserver, migrate, db_worker, gunicorn's check)."""

import re

from django.conf import settings
from django.core.checks import Error, register

CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")


@register()
def incidents_channel_is_an_id(app_configs=None, **kwargs) -> list[Error]:
    """`chat.update` and `conversations.setTopic` take channel ids only, so a `#name` would post
    headlines but never edit them or set the topic: refuse it at start-up, saying where the id is."""
    channel = settings.SLACK_INCIDENTS_CHANNEL
    if not channel or CHANNEL_ID.match(channel):
        return []
    return [
        Error(
            f"SLACK_INCIDENTS_CHANNEL is {channel!r}, not a channel id.",
            hint="Use the channel id (C… or G…): in Slack open the channel's details; the id is at the bottom "
            "of the About tab. Slack's chat.update and conversations.setTopic accept ids only.",
            id="slackbridge.E001",
        )
    ]
