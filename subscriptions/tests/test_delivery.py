"""Delivery by the worker: retries and back-off, failures, disabling, batches, crashes, privacy at send time."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import services
from incidents.models import Source, Visibility
from incidents.tests.factories import make_incident
from slackbridge.tests.syncutil import queued, run_worker
from subscriptions import delivery, tasks
from subscriptions.models import Delivery, DeliveryState, Event, Kind, Subscriber
from subscriptions.tests.conftest import Receiver, free_port
from subscriptions.tests.factories import make_subscriber
from subscriptions.tests.util import drain, failed_tasks, subject

pytestmark = pytest.mark.django_db(transaction=True)


def test_receiver_down_then_up_is_delivered_once_after_retry(settings, smtp):
    settings.SUBSCRIPTIONS_ALLOW_PRIVATE_URLS = True
    port = free_port()  # nothing listens there yet: connection refused
    hook = make_subscriber(f"http://127.0.0.1:{port}/hook", kind=Kind.WEBHOOK)
    make_incident("Catalyst down")
    run_worker()
    [row] = Delivery.objects.all()
    assert row.state == DeliveryState.PENDING
    assert row.attempts == 1
    assert "connection" in row.last_error
    assert queued() == 1  # the retry waits for its back-off
    receiver = Receiver(port=port)
    try:
        drain()
        [request] = receiver.requests
        assert request.headers["x-crashbot-delivery"] == str(row.uuid)
        row.refresh_from_db()
        assert (row.state, row.attempts, row.last_status) == (DeliveryState.DELIVERED, 2, "200")
        hook.refresh_from_db()
        assert hook.failing_since is None
        drain()
        assert len(receiver.requests) == 1
    finally:
        receiver.close()


def test_5xx_and_429_are_retried_honouring_retry_after(receiver, smtp):
    receiver.replies = [(503, {}), (429, {"Retry-After": "1"})]
    make_subscriber(receiver.url(), kind=Kind.WEBHOOK)
    make_incident("Catalyst down")
    run_worker()
    run_worker()  # the 0.2 s back-off has not passed: nothing runs
    [row] = Delivery.objects.all()
    assert row.last_status == "503"
    drain()
    assert [r.path for r in receiver.requests] == ["/hook"] * 3
    row.refresh_from_db()
    assert row.state == DeliveryState.DELIVERED
    assert row.attempts == 3
    assert row.delivered_at - row.created_at >= timedelta(seconds=1)  # waited out Retry-After


@pytest.mark.parametrize("status", [400, 404, 410, 301, 302])
def test_other_4xx_and_3xx_fail_at_once_and_redirects_are_not_followed(receiver, smtp, status):
    receiver.replies = [(status, {"Location": receiver.url("/elsewhere")})]
    make_subscriber(receiver.url(), kind=Kind.WEBHOOK)
    make_incident("Catalyst down")
    drain()
    assert [r.path for r in receiver.requests] == ["/hook"]
    [row] = Delivery.objects.all()
    assert (row.state, row.attempts, row.last_status) == (DeliveryState.FAILED, 1, str(status))


def test_twenty_failed_deliveries_in_a_row_disable_and_tell_the_contact_once(receiver, smtp, settings):
    receiver.replies = [(400, {})] * 25
    hook = make_subscriber(receiver.url(), kind=Kind.WEBHOOK, contact_email="ops@acme.test")
    for n in range(21):
        make_incident(f"Incident {n}")
    drain()
    hook.refresh_from_db()
    assert hook.disabled
    assert "20 failed deliveries in a row" in hook.disabled_reason
    assert len(receiver.requests) == 20
    assert Delivery.objects.filter(state=DeliveryState.SKIPPED).count() == 1
    [notice] = smtp.to("ops@acme.test")
    assert "paused" in subject(notice)
    assert hook.contact_told_at is not None
    make_incident("After disabling")
    drain()
    assert len(receiver.requests) == 20
    assert len(smtp.to("ops@acme.test")) == 1


def test_a_day_of_failures_disables(receiver, smtp):
    receiver.replies = [(503, {})] * 5
    hook = make_subscriber(receiver.url(), kind=Kind.WEBHOOK, contact_email="ops@acme.test")
    make_incident("Catalyst down")
    run_worker()
    day_ago = timezone.now() - timedelta(hours=24, minutes=1)
    Delivery.objects.update(created_at=day_ago, next_try_at=timezone.now())
    Subscriber.objects.filter(pk=hook.pk).update(failing_since=day_ago)
    [row] = Delivery.objects.all()
    result = delivery.send_batch(event_id=row.event_id, first=hook.pk, last=hook.pk)
    assert result["failed"] == 1
    hook.refresh_from_db()
    assert hook.disabled
    drain()
    assert len(smtp.to("ops@acme.test")) == 1


def test_success_ends_a_failure_streak(receiver, smtp):
    receiver.replies = [(400, {})] * 3
    hook = make_subscriber(receiver.url(), kind=Kind.WEBHOOK)
    for n in range(4):
        make_incident(f"Incident {n}")
    drain()
    hook.refresh_from_db()
    assert (hook.failures_in_row, hook.failing_since, hook.disabled) == (0, None, False)


def test_batches_stream_every_recipient_once(smtp, settings):
    settings.SUBSCRIPTIONS_BATCH_SIZE = 3
    people = [make_subscriber(f"p{n}@example.com") for n in range(7)]
    make_incident("Catalyst down")
    run_worker()
    from django_tasks_db.models import DBTaskResult

    assert DBTaskResult.objects.filter(task_path="subscriptions.tasks.send_batch").count() == 3
    drain()
    for person in people:
        assert len(smtp.to(person.address)) == 1
    assert Delivery.objects.filter(state=DeliveryState.DELIVERED).count() == 7
    assert failed_tasks() == []


def test_one_refused_address_fails_alone(smtp):
    smtp.refuse["gone@example.com"] = "550 5.1.1 No such user"
    smtp.refuse["full@example.com"] = "452 4.2.2 Mailbox full"
    for address in ("a@example.com", "gone@example.com", "full@example.com", "b@example.com"):
        make_subscriber(address)
    make_incident("Catalyst down")
    run_worker()
    states = dict(Delivery.objects.values_list("subscriber__address", "state"))
    assert states == {
        "a@example.com": DeliveryState.DELIVERED,
        "gone@example.com": DeliveryState.FAILED,
        "full@example.com": DeliveryState.PENDING,  # temporary: tried again later
        "b@example.com": DeliveryState.DELIVERED,
    }
    del smtp.refuse["full@example.com"]
    drain()
    assert len(smtp.to("full@example.com")) == 1


def test_smtp_down_is_retried(settings, smtp):
    make_subscriber("ann@example.com")
    port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()
    make_incident("Catalyst down")
    run_worker()
    assert Delivery.objects.get().state == DeliveryState.PENDING
    settings.EMAIL_PORT = port
    drain()
    assert len(smtp.to("ann@example.com")) == 1


def test_a_worker_killed_mid_batch_loses_nothing_and_sends_each_at_most_once_more(receiver, smtp, settings):
    people = [make_subscriber(f"p{n}@example.com") for n in range(3)]
    hook = make_subscriber(receiver.url(), kind=Kind.WEBHOOK)
    incident = make_incident("Catalyst down")
    from subscriptions import events

    [event] = events.incident_events(incident_id=incident.pk)
    # A worker fanned out, claimed the batch, sent to the first person, and died before marking it.
    Delivery.objects.bulk_create([Delivery(subscriber=s, event=event) for s in [*people, hook]])
    Event.objects.filter(pk=event.pk).update(fanned_out_at=timezone.now())
    claimed = delivery.claim(event_id=event.pk, first=people[0].pk, last=hook.pk, now=timezone.now())
    assert len(claimed) == 4
    mail = delivery.build_email(people[0], delivery.event_view(event))
    mail.send()
    # Its task row stays RUNNING for ever; the lease runs out; the reconciler takes over.
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.all().delete()
    later = timezone.now() + delivery.LEASE + timedelta(minutes=1)
    Delivery.objects.update(lease_until=timezone.now() - timedelta(seconds=1), next_try_at=later - delivery.LEASE * 2)
    tasks.run_due_now()
    drain()
    assert len(smtp.to(people[0].address)) == 2  # once more, at most
    for person in people[1:]:
        assert len(smtp.to(person.address)) == 1
    assert len(receiver.requests) == 1
    assert Delivery.objects.filter(state=DeliveryState.DELIVERED).count() == 4
    tasks.run_due_now()
    drain()
    assert len(receiver.requests) == 1


def test_an_unfinished_fan_out_is_finished_by_the_reconciler(smtp):
    ann = make_subscriber("ann@example.com")
    incident = make_incident("Catalyst down")
    from subscriptions import events

    [event] = events.incident_events(incident_id=incident.pk)  # recorded, then the worker died
    Event.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.all().delete()
    tasks.run_due_now()
    drain()
    assert len(smtp.to(ann.address)) == 1


def test_made_internal_before_sending_sends_nothing(receiver, smtp):
    make_subscriber("ann@example.com")
    make_subscriber(receiver.url(), kind=Kind.WEBHOOK)
    incident = make_incident("Customer data exposed")
    services.incident_update(
        incident_id=incident.pk, author="staff:alice", source=Source.ADMIN, visibility=Visibility.INTERNAL
    )
    drain()
    assert smtp.messages == []
    assert receiver.requests == []
    assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.SKIPPED}


def test_a_url_that_now_resolves_privately_is_refused_at_send_time(receiver, smtp, settings):
    hook = make_subscriber(receiver.url(), kind=Kind.WEBHOOK)
    settings.SUBSCRIPTIONS_ALLOW_PRIVATE_URLS = False  # e.g. set for a test network, then turned off
    make_incident("Catalyst down")
    drain()
    assert receiver.requests == []
    row = Delivery.objects.get(subscriber=hook)
    assert row.state == DeliveryState.FAILED
    assert "refused" in row.last_error


def test_subscribers_confirmed_after_the_event_do_not_get_it(smtp):
    make_incident("Catalyst down")
    make_subscriber("late@example.com", confirmed_at=timezone.now() + timedelta(seconds=1))
    drain()
    assert smtp.messages == []


def test_the_reconciler_is_a_recurring_job():
    from django.utils.module_loading import import_string

    from crashbot.scheduling import JOBS

    [job] = [j for j in JOBS if j.name == "subscriptions.run_due"]
    assert import_string(job.func) is tasks.run_due_now
    assert tasks.run_due_now()["batches"] == 0
