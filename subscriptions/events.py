"""The one place that decides which change becomes which subscriber event (SPEC §7).

- An incident: its creation as public, becoming public later, every public timeline entry that
  says something to the public (`incidents.selectors.public_update_view`), and its resolution.
  Internal incidents, internal notes, imports and backfills make no event.
- A maintenance (an incident whose `kind` is `maintenance`, once that lands): its status moves
  map to `maintenance.scheduled|started|completed|cancelled` through `MAINTENANCE_EVENTS`.
- A component: a status change that no incident announced (e.g. a status override set or
  cleared in admin, a probe's detection), at most one per component per
  `SUBSCRIPTIONS_COMPONENT_QUIET_MINUTES`.

Events are recorded under a unique key, so running this again (a retried task, two workers)
records nothing twice. Delivery is `subscriptions.delivery`'s business.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents import selectors
from incidents import status as status_rules
from incidents.models import Incident, IncidentUpdate, Source, Status, Visibility
from subscriptions.models import ComponentWatch, Event, EventKind

# Maintenance status (SPEC §8) → event; used when an incident has `kind == "maintenance"`.
MAINTENANCE_EVENTS = {
    "scheduled": EventKind.MAINTENANCE_SCHEDULED,
    "in_progress": EventKind.MAINTENANCE_STARTED,
    "completed": EventKind.MAINTENANCE_COMPLETED,
    "cancelled": EventKind.MAINTENANCE_CANCELLED,
}
INCIDENT_EVENT_KINDS = (EventKind.INCIDENT_CREATED, EventKind.INCIDENT_UPDATED, EventKind.INCIDENT_RESOLVED)


def incident_event_kind(
    incident: Incident, row: IncidentUpdate, *, was_public: bool | None, is_public: bool
) -> EventKind | None:
    """The event one timeline row makes, given whether the incident was public before and after it."""
    changes = row.changes or {}
    if row.source == Source.IMPORT or "backfill" in changes or not is_public:
        return None
    became_public = row.number == 1 or was_public is False
    if getattr(incident, "kind", "incident") == "maintenance":
        if row.visibility != Visibility.PUBLIC:
            return None
        if became_public:
            return EventKind.MAINTENANCE_SCHEDULED
        if "status" in changes:
            return MAINTENANCE_EVENTS.get(changes["status"][1])
        return None
    if became_public:
        return EventKind.INCIDENT_CREATED
    if row.visibility != Visibility.PUBLIC or selectors.public_update_view(incident, row) is None:
        return None
    if "status" in changes and changes["status"][1] == Status.RESOLVED:
        return EventKind.INCIDENT_RESOLVED
    return EventKind.INCIDENT_UPDATED


def incident_events(*, incident_id: int, now: datetime | None = None) -> list[Event]:
    """Record the events this incident's timeline has made and that are not recorded yet; return them.

    Rows older than `SUBSCRIPTIONS_EVENT_MAX_AGE_HOURS` when first seen make no event (history
    from before subscriptions existed, a worker down for days).
    """
    now = now or timezone.now()
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is None:
        return []
    horizon = now - timedelta(hours=settings.SUBSCRIPTIONS_EVENT_MAX_AGE_HOURS)
    known = set(Event.objects.filter(incident_id=incident_id).values_list("update_id", flat=True))
    component_ids = sorted(incident.components.values_list("id", flat=True))
    public: bool | None = None
    made: list[Event] = []
    for row in incident.updates.order_by("number"):
        was_public = public
        changes = row.changes or {}
        if "visibility" in changes:
            public = changes["visibility"][1] == Visibility.PUBLIC
        elif public is None:
            public = True
        if row.pk in known or row.created_at < horizon:
            continue
        kind = incident_event_kind(incident, row, was_public=was_public, is_public=public)
        if kind is None:
            continue
        event = _record(
            key=f"update:{row.pk}",
            kind=kind,
            incident=incident,
            update=row,
            component_ids=component_ids,
            occurred_at=row.created_at,
        )
        if event is not None:
            made.append(event)
    return made


def component_events(*, now: datetime | None = None) -> list[Event]:
    """Record `component.updated` for status changes no incident announced, one per quiet window."""
    now = now or timezone.now()
    quiet = timedelta(minutes=settings.SUBSCRIPTIONS_COMPONENT_QUIET_MINUTES)
    watches = {w.component_id: w for w in ComponentWatch.objects.all()}
    made: list[Event] = []
    for component in selectors.components_with_status():
        status = component.derived_status
        by_incidents = status_rules.component_status(
            override="", worst_severity=component.worst_severity, in_maintenance=component.in_maintenance
        )  # a maintenance announces its components itself (maintenance.* events)
        watch = watches.get(component.pk)
        if watch is None:  # first sight: the baseline, nothing to announce
            ComponentWatch.objects.create(
                component=component, status=status, incident_status=by_incidents, announced_status=status
            )
            continue
        if (watch.status, watch.incident_status) != (status, by_incidents):
            explained = watch.status == watch.incident_status and status == by_incidents
            watch.status, watch.incident_status = status, by_incidents
            if explained:  # open incidents moved it; their own events told subscribers
                watch.announced_status = status
            watch.save(update_fields=["status", "incident_status", "announced_status"])
        if watch.announced_status == watch.status:
            continue
        if watch.announced_at is not None and now - watch.announced_at < quiet:
            continue  # announced lately: the latest state goes out once the window has passed
        event = _record(
            key=f"component:{component.pk}:{now.isoformat()}",
            kind=EventKind.COMPONENT_UPDATED,
            component=component,
            old_status=watch.announced_status,
            new_status=watch.status,
            component_ids=[component.pk],
            occurred_at=now,
        )
        watch.announced_status, watch.announced_at = watch.status, now
        watch.save(update_fields=["announced_status", "announced_at"])
        if event is not None:
            made.append(event)
    return made


def _record(**fields) -> Event | None:
    try:
        with transaction.atomic():
            return Event.objects.create(**fields)
    except IntegrityError:  # another worker recorded it first
        return None
