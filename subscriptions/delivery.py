"""Sending: one batch of deliveries of one event, by email, webhook or Slack webhook (worker only).

Failure policy, in one place (SPEC §7):
- 2xx: delivered. 5xx, 408, 429 (honouring `Retry-After`), timeouts, connection errors and
  temporary SMTP errors: tried again with exponential back-off (`SUBSCRIPTIONS_RETRY_BASE_SECONDS`
  doubling up to `SUBSCRIPTIONS_RETRY_MAX_SECONDS`) until `SUBSCRIPTIONS_GIVE_UP_HOURS` after
  the delivery was planned. Other 4xx, any 3xx (redirects are not followed), a URL that no
  longer passes the SSRF check, and permanent SMTP errors: that delivery fails at once.
- A subscriber whose deliveries keep failing, for `SUBSCRIPTIONS_GIVE_UP_HOURS` or
  `SUBSCRIPTIONS_DISABLE_AFTER_FAILURES` failed deliveries in a row, is disabled and its
  contact is mailed once. Any success ends the streak.
- Each delivery is claimed (a lease) before it is sent and marked right after, so a worker
  killed mid-batch sends each at most once more; the reconciler (`tasks.run_due`) picks up
  what a dead worker left once the lease has passed.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import smtplib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from incidents import selectors as incident_selectors
from incidents.api import statuspage
from incidents.models import Status
from subscriptions import payloads
from subscriptions.models import Delivery, DeliveryState, Event, EventKind, Kind, Subscriber
from subscriptions.services import subscriber_disable
from subscriptions.urlcheck import UnsafeURL, check_url, post

logger = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)
RETRY_STATUSES = {408, 429}
USER_AGENT = "Crashbot-Webhooks/1"
DOCS_PATH = "/docs/SUBSCRIPTIONS.md"


@dataclass
class Outcome:
    ok: bool
    retry: bool = False
    status: str = ""
    error: str = ""
    retry_after: float | None = None


def base_url() -> str:
    return settings.PUBLIC_BASE_URL or "http://127.0.0.1:8000"


def links_for(subscriber: Subscriber) -> payloads.Links:
    base = base_url()
    return payloads.Links(
        manage=base + reverse("subscriptions:manage", args=[subscriber.token]),
        unsubscribe=base + reverse("subscriptions:unsubscribe", args=[subscriber.token]),
        documentation=base + reverse("subscriptions:subscribe"),
    )


def mail_domain() -> str:
    address = email.utils.parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return address.rsplit("@", 1)[-1] if "@" in address else (urlsplit(base_url()).hostname or "localhost")


# -- what the public may see of an event ----------------------------------------------------------------------
def event_view(event: Event) -> payloads.EventView | None:
    """Load the event as the public sees it now; None when it is no longer public (then nothing is sent)."""
    components = incident_selectors.components_with_status()
    unresolved = incident_selectors.incidents_public_unresolved()
    status = statuspage.status(incidents=unresolved, components=components)
    page = {
        "id": statuspage.page_id(),
        "status_indicator": status["indicator"],
        "status_description": status["description"],
    }
    if event.component_id is not None:
        component = next((c for c in components if c.pk == event.component_id), None)
        if component is None:
            return None
        label = payloads.COMPONENT_STATUS_LABEL.get(event.new_status, event.new_status)
        old = payloads.COMPONENT_STATUS_LABEL.get(event.old_status, event.old_status)
        return payloads.EventView(
            kind=event.kind,
            key=component.slug,
            title=component.name,
            status_label=label,
            message=f"{component.name} is now {label.lower()} (was {old.lower()}).",
            url=base_url() + reverse("incidents:status"),
            occurred_at=event.occurred_at,
            page=page,
            body={
                "component_update": {
                    "old_status": event.old_status,
                    "new_status": event.new_status,
                    "created_at": statuspage.iso(event.occurred_at),
                    "component_id": component.slug,
                },
                "component": statuspage.component(component, status_value=component.derived_status),
            },
            components=[component.name],
            message_id=email.utils.make_msgid(domain=mail_domain()),
        )
    incident = incident_selectors.incident_get_public(key=f"{settings.INCIDENT_PREFIX}-{event.incident_id}")
    if incident is None or event.update is None:
        return None  # made internal or invalid since: say nothing
    entry = incident_selectors.public_update_view(incident, event.update)
    url = base_url() + incident.get_absolute_url()
    status_by_id = {c.pk: c.derived_status for c in components}
    root, this = payloads.message_ids(
        incident_key=incident.key, update_number=event.update.number, domain=mail_domain()
    )
    if event.kind in (EventKind.INCIDENT_CREATED, EventKind.MAINTENANCE_SCHEDULED):
        this = root
    return payloads.EventView(
        kind=event.kind,
        key=incident.key,
        title=incident.title,
        status_label=Status(event.update.status).label if event.update.status in Status.values else event.update.status,
        message=entry.body if entry else "",
        url=url,
        occurred_at=event.occurred_at,
        page=page,
        body={"incident": statuspage.incident(incident, url=url, component_status=status_by_id)},
        components=[c.name for c in incident.components.all()],
        thread_root=root,
        message_id=this,
    )


# -- the batch ---------------------------------------------------------------------------------------------------
def claim(*, event_id: int, first: int, last: int, now: datetime) -> list[Delivery]:
    """Lease the due pending deliveries of this event for subscribers `first..last` (ids)."""
    due = Delivery.objects.filter(
        event_id=event_id,
        subscriber_id__gte=first,
        subscriber_id__lte=last,
        state=DeliveryState.PENDING,
        next_try_at__lte=now,
    ).filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
    with transaction.atomic():
        ids = list(due.select_for_update(skip_locked=True).values_list("id", flat=True))
        Delivery.objects.filter(id__in=ids).update(lease_until=now + LEASE)
    return list(Delivery.objects.filter(id__in=ids).select_related("subscriber", "event").order_by("subscriber_id"))


def send_batch(*, event_id: int, first: int, last: int) -> dict:
    """Send what is due in this batch; returns counts and when the rest is due (None: nothing left)."""
    now = timezone.now()
    deliveries = claim(event_id=event_id, first=first, last=last, now=now)
    counts = {"delivered": 0, "retry": 0, "failed": 0, "skipped": 0}
    if deliveries:
        event = deliveries[0].event
        view = event_view(event)
        if view is None:
            Delivery.objects.filter(id__in=[d.pk for d in deliveries]).update(
                state=DeliveryState.SKIPPED, last_error="no longer public", lease_until=None
            )
            counts["skipped"] = len(deliveries)
        else:
            emails = [d for d in deliveries if d.subscriber.kind == Kind.EMAIL]
            for delivery, outcome in _send_emails(emails, view):
                counts[record(delivery, outcome)] += 1
            for delivery in deliveries:
                if delivery.subscriber.kind == Kind.EMAIL:
                    continue
                counts[record(delivery, _send_url(delivery, view))] += 1
    pending = Delivery.objects.filter(
        event_id=event_id, subscriber_id__gte=first, subscriber_id__lte=last, state=DeliveryState.PENDING
    )
    next_try = pending.order_by("next_try_at").values_list("next_try_at", flat=True).first()
    return {**counts, "next_try_at": next_try}


def record(delivery: Delivery, outcome: Outcome) -> str:
    """Store one attempt's outcome on the delivery and the subscriber's failure streak; returns its count key."""
    now = timezone.now()
    attempts = delivery.attempts + 1
    fields = {"attempts": attempts, "last_status": outcome.status[:20], "last_error": outcome.error[:500]}
    fields["lease_until"] = None
    subscriber = delivery.subscriber
    if outcome.ok:
        Delivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.DELIVERED, delivered_at=now, **fields)
        if subscriber.failures_in_row or subscriber.failing_since:
            Subscriber.objects.filter(pk=subscriber.pk).update(failures_in_row=0, failing_since=None)
        return "delivered"
    give_up_at = delivery.created_at + timedelta(hours=settings.SUBSCRIPTIONS_GIVE_UP_HOURS)
    if outcome.retry:
        delay = min(
            settings.SUBSCRIPTIONS_RETRY_BASE_SECONDS * 2 ** (attempts - 1), settings.SUBSCRIPTIONS_RETRY_MAX_SECONDS
        )
        delay = max(delay, outcome.retry_after or 0)
        next_try = now + timedelta(seconds=delay)
        if next_try <= give_up_at:
            Delivery.objects.filter(pk=delivery.pk).update(next_try_at=next_try, **fields)
            Subscriber.objects.filter(pk=subscriber.pk, failing_since__isnull=True).update(failing_since=now)
            return "retry"
    Delivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.FAILED, **fields)
    Subscriber.objects.filter(pk=subscriber.pk).update(failures_in_row=F("failures_in_row") + 1)
    Subscriber.objects.filter(pk=subscriber.pk, failing_since__isnull=True).update(failing_since=now)
    subscriber.refresh_from_db()
    long_failing = now - subscriber.failing_since >= timedelta(hours=settings.SUBSCRIPTIONS_GIVE_UP_HOURS)
    if subscriber.failures_in_row >= settings.SUBSCRIPTIONS_DISABLE_AFTER_FAILURES or long_failing:
        reason = (
            f"{subscriber.failures_in_row} failed deliveries in a row since {subscriber.failing_since:%Y-%m-%d %H:%M} "
            f"UTC; last: {outcome.status or ''} {outcome.error}".strip()
        )
        if subscriber_disable(subscriber_id=subscriber.pk, reason=reason) and subscriber.is_url_kind:
            from subscriptions import tasks

            transaction.on_commit(
                lambda: tasks.send_account_mail.enqueue(subscriber_id=subscriber.pk, purpose="disabled", base_url="")
            )
    return "failed"


# -- email -------------------------------------------------------------------------------------------------------
def build_email(subscriber: Subscriber, view: payloads.EventView, *, connection=None) -> EmailMultiAlternatives:
    links = links_for(subscriber)
    page_name = settings.STATUS_PAGE_NAME
    context = {"view": view, "links": links, "page_name": page_name, "address": subscriber.address}
    message = EmailMultiAlternatives(
        subject=payloads.email_subject(view, page_name=page_name),
        body=render_to_string("subscriptions/email/event.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[subscriber.address],
        connection=connection,
        headers=mail_headers(links, message_id=view.message_id, thread_root=view.thread_root),
    )
    message.attach_alternative(render_to_string("subscriptions/email/event.html", context), "text/html")
    return message


def mail_headers(links: payloads.Links, *, message_id: str = "", thread_root: str = "") -> dict:
    headers = {
        "List-Unsubscribe": f"<{links.unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Auto-Submitted": "auto-generated",
    }
    if message_id:
        headers["Message-ID"] = message_id
    if thread_root and thread_root != message_id:
        headers["In-Reply-To"] = thread_root
        headers["References"] = thread_root
    return headers


def _send_emails(deliveries: list[Delivery], view: payloads.EventView):
    """One SMTP connection for the batch; each message sent on its own so one bad address fails alone."""
    if not deliveries:
        return
    connection = get_connection(fail_silently=False, timeout=settings.EMAIL_TIMEOUT)
    try:
        connection.open()
    except (OSError, smtplib.SMTPException) as exc:
        for delivery in deliveries:
            yield delivery, Outcome(ok=False, retry=True, error=f"SMTP connection: {exc}"[:500])
        return
    try:
        for delivery in deliveries:
            yield delivery, _send_one_email(connection, delivery, view)
    finally:
        try:
            connection.close()
        except (OSError, smtplib.SMTPException):
            logger.warning("Closing the SMTP connection failed", exc_info=True)


def _send_one_email(connection, delivery: Delivery, view: payloads.EventView) -> Outcome:
    try:
        sent = connection.send_messages([build_email(delivery.subscriber, view, connection=connection)])
    except smtplib.SMTPResponseException as exc:
        return Outcome(ok=False, retry=400 <= exc.smtp_code < 500, status=str(exc.smtp_code), error=str(exc))
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        return Outcome(ok=False, retry=all(400 <= c < 500 for c in codes), status=str(codes[0]), error=str(exc))
    except (OSError, smtplib.SMTPException) as exc:
        connection.close()  # the next message opens a fresh connection
        return Outcome(ok=False, retry=True, error=f"SMTP: {exc}")
    return Outcome(ok=bool(sent), retry=not sent, status="250" if sent else "", error="" if sent else "not sent")


# -- webhook and Slack -------------------------------------------------------------------------------------------
def _send_url(delivery: Delivery, view: payloads.EventView) -> Outcome:
    subscriber = delivery.subscriber
    links = links_for(subscriber)
    try:
        target = check_url(subscriber.address)
    except UnsafeURL as exc:
        return Outcome(ok=False, error=f"refused: {exc}")
    if subscriber.kind == Kind.SLACK:
        body = json.dumps(payloads.slack_message(view, links=links, page_name=settings.STATUS_PAGE_NAME)).encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    else:
        timestamp = int(time.time())
        body = payloads.webhook_body(view, links=links, generated_at=timezone.now())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Crashbot-Event": view.kind,
            "X-Crashbot-Delivery": str(delivery.uuid or uuid.uuid4()),
            "X-Crashbot-Timestamp": str(timestamp),
            "X-Crashbot-Signature": payloads.sign(secret=subscriber.secret, timestamp=timestamp, body=body),
        }
    try:
        response = post(target, body=body, headers=headers, timeout=settings.SUBSCRIPTIONS_WEBHOOK_TIMEOUT)
    except TimeoutError as exc:
        return Outcome(ok=False, retry=True, error=f"timeout: {exc}")
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(ok=False, retry=True, error=f"connection: {exc}")
    status = response.status
    if 200 <= status < 300:
        return Outcome(ok=True, status=str(status))
    detail = response.body[:200].decode("utf-8", "replace")
    if status >= 500 or status in RETRY_STATUSES:
        return Outcome(
            ok=False, retry=True, status=str(status), error=detail, retry_after=_retry_after(response.headers)
        )
    return Outcome(ok=False, status=str(status), error=detail or ("redirect not followed" if status < 400 else ""))


def _retry_after(headers: dict[str, str]) -> float | None:
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - timezone.now()).total_seconds()) if when.tzinfo else None
