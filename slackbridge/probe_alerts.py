"""Probe alerts in the incidents channel: post once per detected change; the "Open incident" button.

Called by the worker (`tasks.announce_component`, queued by the `component_changed`
receiver) and by the interaction table; the incidents app never calls it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from incidents import selectors
from incidents.models import Component
from slackbridge import client
from slackbridge.blocks import modals
from slackbridge.blocks import monitoring as blocks
from slackbridge.models import SyncLease

logger = logging.getLogger(__name__)


def announce(*, component_id: int, old_status: str, new_status: str, note: str, at: str) -> str:
    """Post the alert (or the recovery) once: a claim row named after the change makes a re-run a no-op.

    Raises `client.SlackCallError` (the claim is released first, so a retry posts it).
    """
    component = Component.objects.filter(pk=component_id).first()
    if component is None:
        return "gone"
    if not settings.SLACK_INCIDENTS_CHANNEL:
        return "no_channel"
    moment = datetime.fromisoformat(at)
    claim = f"probe:{component_id}:{new_status or 'up'}:{int(moment.timestamp())}"[:64]
    _, created = SyncLease.objects.get_or_create(name=claim, defaults={"owner": "announced"})
    if not created:
        return "already_announced"
    if new_status:
        text, message = blocks.component_alert(component, status=new_status, note=note)
    else:
        since = _down_since(component_id, before=moment)
        text, message = blocks.component_recovered(component, down_for=(moment - since) if since else None)
    try:
        client.post_message(channel=settings.SLACK_INCIDENTS_CHANNEL, text=text, blocks=message)
    except client.SlackCallError:
        SyncLease.objects.filter(name=claim).delete()
        raise
    return "posted"


def _down_since(component_id: int, *, before: datetime) -> datetime | None:
    """When the episode that just ended began: the newest alert claim of this component before `before`."""
    names = (
        SyncLease.objects.filter(name__startswith=f"probe:{component_id}:")
        .exclude(name__contains=":up:")
        .values_list("name", flat=True)
    )
    stamps = [int(n.rsplit(":", 1)[1]) for n in names if n.rsplit(":", 1)[1].isdigit()]
    earlier = [s for s in stamps if s <= before.timestamp()]
    return datetime.fromtimestamp(max(earlier), tz=timezone.get_current_timezone()) if earlier else None


def on_open_incident_button(interaction, action: dict) -> None:
    """Open the create modal prefilled with the component and the error the probe saw."""
    parsed = blocks.read_button_value(action.get("value"))
    if parsed is None:
        logger.info("Open incident clicked with an unreadable value")
        return
    component_id, status, note = parsed
    component = Component.objects.filter(pk=component_id).first()
    if component is None:
        return
    words = "is slow" if status == "degraded_performance" else "is down"
    view = modals.create_modal(components=list(selectors.components_ordered()), now=timezone.now())
    description = f"Detected by monitoring: {note}" if note else "Detected by monitoring."
    view = blocks.prefill_create_modal(
        view, title=f"{component.name} {words}", description=description, component_ids=[component.pk]
    )
    client.try_open_view(trigger_id=interaction.trigger_id, view=view)
