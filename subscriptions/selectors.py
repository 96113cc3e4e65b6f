"""Reads shared by the pages, the worker and admin."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from subscriptions.models import Delivery, DeliveryState, Event, Subscriber


def subscriber_by_token(token: str) -> Subscriber | None:
    if not token or len(token) > 64:
        return None
    return Subscriber.objects.prefetch_related("components").filter(token=token).first()


def recipients(event: Event) -> QuerySet[Subscriber]:
    """Confirmed, enabled subscribers who follow what the event is about, subscribed when it happened.

    Someone following chosen components hears about an event affecting any of them; an
    event with no component (a general incident) goes to everyone.
    """
    qs = Subscriber.objects.filter(confirmed=True, disabled=False, confirmed_at__lte=event.occurred_at)
    if event.component_ids:
        follows = Subscriber.components.through.objects.filter(subscriber_id=OuterRef("pk"))
        qs = qs.filter(~Exists(follows) | Exists(follows.filter(component_id__in=event.component_ids)))
    return qs.order_by("id")


def recipient_id_pages(event: Event, *, size: int):
    """Recipient ids, a page of `size` at a time by keyset (never all subscribers in memory at once).

    Each page is its own finished query: no read cursor stays open while the caller writes the
    page's deliveries (on SQLite a write from a connection whose read snapshot is stale fails at
    once with "database is locked", which an open `.iterator()` cursor caused here).
    """
    last = 0
    while True:
        page = list(recipients(event).filter(id__gt=last).values_list("id", flat=True)[:size])
        if not page:
            return
        yield page
        last = page[-1]


def events_to_fan_out(*, now) -> QuerySet[Event]:
    """Events whose fan-out never finished (a worker killed mid-way), once their lease ran out."""
    return Event.objects.filter(fanned_out_at__isnull=True).filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))


def deliveries_pending_count() -> int:
    """Notifications not yet delivered nor given up (`crashbot_notifications_pending`, SPEC §11)."""
    return Delivery.objects.filter(state=DeliveryState.PENDING).count()
