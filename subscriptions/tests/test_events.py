"""Which change becomes which event (subscriptions/events.py), through the real services and worker."""

from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from incidents import services
from incidents.models import ComponentStatus, Severity, Source, Status, Visibility
from incidents.tests.factories import make_component, make_incident
from subscriptions import events
from subscriptions.models import Event, EventKind
from subscriptions.tests.factories import make_subscriber
from subscriptions.tests.util import drain, subject

pytestmark = pytest.mark.django_db(transaction=True)
LEGACY_LIST = Path(__file__).resolve().parents[2] / "incidents" / "tests" / "fixtures" / "legacy_list.json"


def kinds() -> list[str]:
    return list(Event.objects.order_by("id").values_list("kind", flat=True))


def update(incident, **fields):
    return services.incident_update(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, **fields)


def test_lifecycle_of_a_public_incident(smtp):
    ann = make_subscriber("ann@example.com")
    incident = make_incident("Catalyst down")
    update(incident, point="U0POINT")  # a staff-only field: nothing public changed
    update(incident, rca_link="https://wiki.example.com/rca")  # not shown as an entry either
    update(incident, severity=Severity.SEV1)  # "Impact is now critical."
    update(incident, status=Status.MONITORING)
    services.incident_add_note(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="psst")
    services.incident_resolve(incident_id=incident.pk, author="U0POINT", source=Source.SLACK)
    services.incident_reopen(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="Back again")
    drain()
    assert kinds() == [
        EventKind.INCIDENT_CREATED,
        EventKind.INCIDENT_UPDATED,
        EventKind.INCIDENT_UPDATED,
        EventKind.INCIDENT_RESOLVED,
        EventKind.INCIDENT_UPDATED,
    ]
    subjects = [subject(m) for m in smtp.to(ann.address)]
    assert [s.rsplit("— ", 1)[1] for s in subjects] == ["Investigating", "Investigating", "Monitoring", "Resolved",
                                                         "Investigating"]  # fmt: skip
    services.incident_mark_invalid(incident_id=incident.pk, author="U0POINT", source=Source.SLACK)  # withdrawn
    update(incident, message="Still invalid")  # an invalid incident is not public: nothing
    drain()
    assert len(kinds()) == 5
    assert len(smtp.to(ann.address)) == 5


def test_backfills_imports_and_internal_incidents_make_no_event(smtp):
    make_subscriber("ann@example.com")
    past = timezone.now() - timedelta(hours=3)
    make_incident("Backfilled outage", status=Status.RESOLVED, reported_at=past, closed_at=past + timedelta(hours=1))
    internal = make_incident("Internal only", visibility=Visibility.INTERNAL)
    update(internal, status=Status.IDENTIFIED, message="Found it")
    call_command("import_crashbot_list", str(LEGACY_LIST), stdout=StringIO())
    drain()
    assert kinds() == []
    assert smtp.messages == []


def test_history_older_than_the_horizon_is_not_sent(smtp, settings):
    make_subscriber("ann@example.com")
    incident = make_incident("Catalyst down")
    later = timezone.now() + timedelta(hours=settings.SUBSCRIPTIONS_EVENT_MAX_AGE_HOURS, minutes=1)
    assert events.incident_events(incident_id=incident.pk, now=later) == []


def test_maintenance_status_moves_map_to_maintenance_events():
    """The mapping the maintenance kind (SPEC §8) will use, on an incident marked as one."""
    incident = make_incident("Catalyst upgrade")
    incident.kind = "maintenance"
    rows = list(incident.updates.order_by("number"))
    assert events.incident_event_kind(incident, rows[0], was_public=None, is_public=True) == "maintenance.scheduled"
    for status, kind in events.MAINTENANCE_EVENTS.items():
        rows[0].number, rows[0].changes = 2, {"status": ["scheduled", status]}
        assert events.incident_event_kind(incident, rows[0], was_public=True, is_public=True) == kind


def test_component_changes_no_incident_announced_at_most_once_per_quiet_window(smtp, settings):
    market = make_component("Marketplace", slug="marketplace")
    chat = make_component("Chat", slug="chat")
    fan = make_subscriber("fan@example.com", components=[market])
    now = timezone.now()
    assert events.component_events(now=now) == []  # first look: the baseline
    make_incident("Marketplace slow", severity=Severity.SEV2, components=[market])  # the incident announces it
    assert events.component_events(now=now + timedelta(minutes=1)) == []
    market.status_override = ComponentStatus.UNDER_MAINTENANCE
    market.save()
    [first] = events.component_events(now=now + timedelta(minutes=2))
    assert (first.kind, first.old_status, first.new_status) == (EventKind.COMPONENT_UPDATED, "partial_outage",
                                                                 "under_maintenance")  # fmt: skip
    market.status_override = ComponentStatus.MAJOR_OUTAGE
    market.save()
    assert events.component_events(now=now + timedelta(minutes=5)) == []  # within 10 minutes: held back
    market.status_override = ComponentStatus.DEGRADED_PERFORMANCE
    market.save()
    assert events.component_events(now=now + timedelta(minutes=8)) == []
    [latest] = events.component_events(now=now + timedelta(minutes=13))
    assert (latest.old_status, latest.new_status) == ("under_maintenance", "degraded_performance")
    chat.status_override = ComponentStatus.MAJOR_OUTAGE
    chat.save()
    [other] = events.component_events(now=now + timedelta(minutes=14))
    assert other.component_id == chat.pk
    from subscriptions import tasks

    for event in (first, latest, other):
        tasks.fan_out(event.pk)
    drain()
    subjects = [subject(m) for m in smtp.to(fan.address)]
    assert "[Decentraland status] Marketplace — Under maintenance" in subjects
    assert "[Decentraland status] Marketplace — Degraded performance" in subjects
    assert not any("Chat" in s for s in subjects)  # follows the marketplace only
