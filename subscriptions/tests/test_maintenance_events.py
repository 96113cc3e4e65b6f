"""Subscribers are told when a maintenance is scheduled, started, completed or cancelled (SPEC §7, §8):
the worker's job moves it, the real task worker records the events and mails a real SMTP server."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from incidents import maintenance_jobs, services
from incidents.models import Source, Status, Visibility
from incidents.tests.factories import make_component
from subscriptions import events
from subscriptions.models import Event, EventKind
from subscriptions.tests.factories import make_subscriber
from subscriptions.tests.util import drain, subject

pytestmark = pytest.mark.django_db(transaction=True)


def kinds() -> list[str]:
    return list(Event.objects.order_by("id").values_list("kind", flat=True))


def schedule(title: str, **fields):
    now = timezone.now()
    return services.maintenance_schedule(
        title=title,
        author="U0OPS",
        source=Source.SLACK,
        scheduled_for=fields.pop("scheduled_for", now + timedelta(minutes=1)),
        scheduled_until=fields.pop("scheduled_until", now + timedelta(hours=1)),
        **fields,
    )


def test_scheduled_started_completed_and_cancelled_reach_subscribers(smtp):
    catalyst = make_component("Catalyst", slug="catalyst")
    ann = make_subscriber("ann@example.com")
    maintenance = schedule("Catalyst upgrade", components=[catalyst])
    schedule("Secret vault move", visibility=Visibility.INTERNAL, components=[catalyst])
    drain()
    assert kinds() == [EventKind.MAINTENANCE_SCHEDULED]
    with time_machine.travel(maintenance.scheduled_for + timedelta(seconds=5)):
        assert maintenance_jobs.run_due()["started"] == 2
        drain()
        # The component went under maintenance, but the maintenance announced it: no component event.
        assert events.component_events() == []
    with time_machine.travel(maintenance.scheduled_until + timedelta(seconds=5)):
        assert maintenance_jobs.run_due()["completed"] == 2
        drain()
    dropped = schedule("Builder migration")
    services.maintenance_transition(
        incident_id=dropped.pk, status=Status.CANCELLED, author="U0OPS", source=Source.SLACK
    )
    drain()
    assert kinds() == [
        EventKind.MAINTENANCE_SCHEDULED,
        EventKind.MAINTENANCE_STARTED,
        EventKind.MAINTENANCE_COMPLETED,
        EventKind.MAINTENANCE_SCHEDULED,
        EventKind.MAINTENANCE_CANCELLED,
    ]
    subjects = [subject(m) for m in smtp.to(ann.address)]
    assert [s.rsplit("— ", 1)[1] for s in subjects] == ["Scheduled", "In progress", "Completed", "Scheduled",
                                                         "Cancelled"]  # fmt: skip
    assert all("Secret" not in s for s in subjects)
