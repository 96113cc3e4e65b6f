"""Reads shared by more than one caller (public API, pages, Slack, admin)."""

import re
from datetime import timedelta

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from incidents.models import OPEN_STATUSES, Component, Incident, IncidentUpdate, Person, Status, Visibility

NOT_ASSIGNED = "Not assigned"
_KEY = re.compile(r"^\s*#?(?:(?P<prefix>[A-Za-z]+)-)?(?P<id>\d{1,12})\s*$")


def parse_incident_key(text: str) -> int | None:
    """`DCL-12`, `dcl-12`, `#12` or `12` → 12; anything else (or another prefix) → None."""
    match = _KEY.match(text or "")
    if not match:
        return None
    prefix = match.group("prefix")
    if prefix and prefix.upper() != settings.INCIDENT_PREFIX.upper():
        return None
    return int(match.group("id"))


def incident_get(*, incident_id: int) -> Incident | None:
    return Incident.objects.prefetch_related("components").filter(pk=incident_id).first()


def incident_public_queryset() -> QuerySet[Incident]:
    """Incidents the public may see: public and not marked invalid."""
    return Incident.objects.filter(visibility=Visibility.PUBLIC).exclude(status=Status.INVALID)


def public_updates_prefetch() -> Prefetch:
    return Prefetch(
        "updates",
        queryset=IncidentUpdate.objects.filter(visibility=Visibility.PUBLIC).order_by("-number"),
        to_attr="public_updates",
    )


def incident_get_public(*, key: str) -> Incident | None:
    incident_id = parse_incident_key(key)
    if incident_id is None:
        return None
    return (
        incident_public_queryset()
        .prefetch_related("components", public_updates_prefetch())
        .filter(pk=incident_id)
        .first()
    )


def incidents_open(*, include_internal: bool = True) -> QuerySet[Incident]:
    """Open incidents, most severe first, then oldest report first (the legacy order)."""
    qs = Incident.objects.filter(status__in=OPEN_STATUSES)
    if not include_internal:
        qs = qs.filter(visibility=Visibility.PUBLIC)
    return qs.order_by("severity", "reported_at", "id")


def incidents_recently_closed(*, days: int = 14, include_internal: bool = True) -> QuerySet[Incident]:
    since = timezone.now() - timedelta(days=days)
    qs = Incident.objects.filter(status=Status.RESOLVED, closed_at__gte=since)
    if not include_internal:
        qs = qs.filter(visibility=Visibility.PUBLIC)
    return qs.order_by("-closed_at", "-id")


def incident_list_legacy() -> tuple[list[Incident], list[Incident]]:
    """The `/list` payload: open incidents and a bounded window of closed ones (LEGACY.md order)."""
    public = incident_public_queryset().prefetch_related("components")
    open_incidents = list(public.filter(status__in=OPEN_STATUSES).order_by("severity", "reported_at", "id"))
    since = timezone.now() - timedelta(days=settings.LIST_CLOSED_DAYS)
    closed = list(
        public.filter(status=Status.RESOLVED, reported_at__gte=since).order_by("-reported_at", "-id")[
            : settings.LIST_CLOSED_LIMIT
        ]
    )
    return open_incidents, closed


def display_names(incidents: list[Incident]) -> dict[str, str]:
    """Stored display names of every point/contact in `incidents`, in one query."""
    ids = {i.point for i in incidents if i.point} | {i.contact for i in incidents if i.contact}
    if not ids:
        return {}
    return dict(Person.objects.filter(slack_id__in=ids).values_list("slack_id", "display_name"))


def person_label(*, slack_id: str, free_text: str, names: dict[str, str]) -> str:
    """What to show for a point/contact: stored Slack name, then free text, never a raw Slack id."""
    if slack_id and slack_id in names:
        return names[slack_id]
    if free_text:
        return free_text
    return "Assigned" if slack_id else NOT_ASSIGNED


def components_ordered() -> QuerySet[Component]:
    return Component.objects.order_by("position", "name")
