"""The "Postmortem draft" button: the worker uploads the draft (incidents.postmortem) into the incident's thread."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from incidents.models import Incident
from incidents.postmortem import postmortem_draft, postmortem_filename
from incidents.services import SLACK_USER_ID
from slackbridge import client
from slackbridge.models import MessageKind, SlackMessage


def upload_postmortem(incident_id: int, user_id: str = "") -> dict:
    """Build the draft now and share it in the headline's thread (``files_upload_v2``'s three steps).

    Raises ``SlackCallError``; the task retries transient ones.
    """
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is None:
        return {"outcome": "missing"}
    head = SlackMessage.objects.filter(incident=incident, kind=MessageKind.HEADLINE).exclude(ts="").first()
    if head is None:
        return {"outcome": "no_thread"}
    text = postmortem_draft(incident, base_url=settings.PUBLIC_BASE_URL, generated_at=timezone.now())
    asked = f", asked for by <@{user_id}>" if user_id and SLACK_USER_ID.match(user_id) else ""
    result = client.upload_text_file(
        channel=head.channel,
        thread_ts=head.ts,
        filename=postmortem_filename(incident),
        title=f"{incident.key} postmortem draft",
        content=text,
        comment=f":memo: Postmortem draft for {incident.key}{asked}. Staff only: it includes internal notes.",
    )
    files = result.get("files") or []
    return {"outcome": "uploaded", "file": files[0]["id"] if files else ""}
