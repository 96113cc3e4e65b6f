"""Background tasks (django-tasks, run by ``manage.py db_worker``): events → deliveries → sends.

`plan_incident` records an incident's new events (`subscriptions.events`) and fans each out:
one `Delivery` row per recipient (unique per subscriber and event), then one `send_batch`
task per `SUBSCRIPTIONS_BATCH_SIZE` recipients. Recipients are read a page at a time by id,
never loaded all at once. `run_due` (a recurring job in `crashbot.scheduling.JOBS`) is the reconciler: it
finishes fan-outs and batches a killed worker left behind, announces component changes and
tidies up.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Max, Min
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django_tasks import task
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from subscriptions import delivery, events, selectors, services
from subscriptions.models import Delivery, DeliveryState, Event, Subscriber

logger = logging.getLogger(__name__)
FAN_OUT_LEASE = timedelta(minutes=5)


def enqueue_plan(incident_id: int) -> None:
    """What the receiver calls: one insert, unless a plan for this incident is already waiting."""
    backend = plan_incident.get_backend()
    if isinstance(backend, DatabaseBackend):
        waiting = DBTaskResult.objects.filter(
            status="READY", task_path=plan_incident.module_path, args_kwargs__kwargs__incident_id=incident_id
        )
        if waiting.exists():
            return
    plan_incident.enqueue(incident_id=incident_id)


@task()
def plan_incident(incident_id: int) -> dict:
    """Record the incident's new events and fan each one out."""
    made = events.incident_events(incident_id=incident_id)
    for event in made:
        fan_out(event.pk)
    return {"incident": incident_id, "events": [e.kind for e in made]}


def fan_out(event_id: int) -> int:
    """Create the deliveries of an event in batches and queue a send task per batch; returns recipients."""
    now = timezone.now()
    claimed = selectors.events_to_fan_out(now=now).filter(pk=event_id).update(lease_until=now + FAN_OUT_LEASE)
    if not claimed:
        return 0
    event = Event.objects.get(pk=event_id)
    total = 0
    for batch in selectors.recipient_id_pages(event, size=settings.SUBSCRIPTIONS_BATCH_SIZE):
        total += _plan_batch(event, batch)
    Event.objects.filter(pk=event_id).update(fanned_out_at=timezone.now(), lease_until=None)
    return total


def _plan_batch(event: Event, subscriber_ids: list[int]) -> int:
    Delivery.objects.bulk_create(
        [Delivery(subscriber_id=s, event=event) for s in subscriber_ids], ignore_conflicts=True
    )
    send_batch.enqueue(event_id=event.pk, first=subscriber_ids[0], last=subscriber_ids[-1])
    return len(subscriber_ids)


@task()
def send_batch(event_id: int, first: int, last: int) -> dict:
    """Send one batch; what is left for a retry is queued again for when it is due."""
    result = delivery.send_batch(event_id=event_id, first=first, last=last)
    next_try = result.pop("next_try_at")
    if next_try is not None:
        send_batch.using(run_after=max(next_try, timezone.now())).enqueue(event_id=event_id, first=first, last=last)
    return {**result, "retry_at": next_try.isoformat() if next_try else None}


@task()
def run_due() -> dict:
    """The reconciler (recurring job): work a killed worker left, component changes, housekeeping."""
    return run_due_now()


def run_due_now() -> dict:
    now = timezone.now()
    refanned = 0
    for event in selectors.events_to_fan_out(now=now).filter(created_at__lt=now - timedelta(seconds=30)):
        fan_out(event.pk)
        refanned += 1
    stuck = (
        Delivery.objects.filter(state=DeliveryState.PENDING, next_try_at__lte=now, event__fanned_out_at__isnull=False)
        .exclude(lease_until__gte=now)
        .filter(next_try_at__lte=now - timedelta(seconds=30))
        .values("event_id")
        .annotate(first=Min("subscriber_id"), last=Max("subscriber_id"))
    )
    batches = 0
    for row in stuck:
        send_batch.enqueue(event_id=row["event_id"], first=row["first"], last=row["last"])
        batches += 1
    for event in events.component_events(now=now):
        fan_out(event.pk)
    tidy = services.housekeeping(now=now)
    return {"events_refanned": refanned, "batches": batches, **tidy}


ACCOUNT_MAIL_ATTEMPTS = 8


@task()
def send_account_mail(subscriber_id: int, purpose: str, base_url: str = "", attempt: int = 0) -> dict:
    """Confirmation link, manage link (someone signed up an address that is already subscribed),
    or the notice to a webhook's contact that its subscription was disabled."""
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None:
        return {"outcome": "gone"}
    base = settings.PUBLIC_BASE_URL or base_url.rstrip("/") or delivery.base_url()
    page_name = settings.STATUS_PAGE_NAME
    links = {
        "confirm": base + reverse("subscriptions:confirm", args=[subscriber.token]),
        "manage": base + reverse("subscriptions:manage", args=[subscriber.token]),
        "unsubscribe": base + reverse("subscriptions:unsubscribe", args=[subscriber.token]),
        "status": base + reverse("incidents:status"),
    }
    subjects = {
        "confirm": f"[{page_name} status] Confirm your subscription",
        "manage": f"[{page_name} status] Your subscription",
        "disabled": f"[{page_name} status] Your {subscriber.get_kind_display()} subscription was paused",
    }
    if purpose not in subjects:
        return {"outcome": "unknown purpose"}
    to = subscriber.contact
    if not to:
        return {"outcome": "no contact"}
    context = {"subscriber": subscriber, "links": links, "page_name": page_name, "purpose": purpose}
    message = EmailMultiAlternatives(
        subject=subjects[purpose],
        body=render_to_string(f"subscriptions/email/{purpose}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(render_to_string("subscriptions/email/account.html", context), "text/html")
    try:
        message.send()
    except (OSError, smtplib.SMTPException) as exc:
        if attempt + 1 >= ACCOUNT_MAIL_ATTEMPTS:
            logger.error("Giving up on the %s mail to subscriber %s: %s", purpose, subscriber_id, exc)
            return {"outcome": "gave_up", "error": str(exc)}
        delay = min(settings.SUBSCRIPTIONS_RETRY_BASE_SECONDS * 2**attempt, settings.SUBSCRIPTIONS_RETRY_MAX_SECONDS)
        logger.warning("The %s mail to subscriber %s failed (%s); again in %.0f s", purpose, subscriber_id, exc, delay)
        send_account_mail.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(
            subscriber_id=subscriber_id, purpose=purpose, base_url=base_url, attempt=attempt + 1
        )
        return {"outcome": "retry", "error": str(exc)}
    if purpose == "disabled":
        Subscriber.objects.filter(pk=subscriber.pk).update(contact_told_at=timezone.now())
    return {"outcome": "sent", "purpose": purpose}
