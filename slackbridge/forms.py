"""Modals built from the database, and opening them on the request path.

Shared by the slash commands (`commands.py`) and the buttons (`interactions.py`), which
must not import each other. `views.open`/`views.update` are the only Web API calls allowed
while Slack waits for our reply (the trigger expires in 3 s).
"""

from collections.abc import Callable

from django.utils import timezone

from incidents import selectors
from incidents.models import Incident, IncidentUpdate
from slackbridge import client
from slackbridge.blocks import modals

RECENTLY_CLOSED_DAYS = 14


def create_modal() -> dict:
    return modals.create_modal(components=list(selectors.components_ordered()), now=timezone.now())


def maintenance_modal() -> dict:
    return modals.maintenance_modal(components=list(selectors.components_ordered()), now=timezone.now())


def picker_modal() -> dict:
    return modals.update_picker_modal(
        open_incidents=list(selectors.incidents_open()[: modals.OPTIONS_MAX]),
        closed_incidents=list(selectors.incidents_recently_closed(days=RECENTLY_CLOSED_DAYS)[: modals.OPTIONS_MAX]),
    )


def update_modal_for(incident: Incident) -> dict:
    return modals.update_modal(
        incident=incident,
        components=list(selectors.components_ordered()),
        component_ids=[c.pk for c in incident.components.all()],
    )


def open_form(trigger_id: str, build: Callable[[], dict]) -> str | None:
    """Open a modal with `trigger_id`; None on success, else why not (for the person). Never raises."""
    return client.try_open_view(trigger_id=trigger_id, view=build())


def latest_entry_number(incident_id: int) -> int:
    """The number of the incident's last timeline row (staff numbering: creation is #1)."""
    last = IncidentUpdate.objects.filter(incident_id=incident_id).order_by("-number").values_list("number", flat=True)
    return last.first() or 0
