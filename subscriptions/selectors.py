"""Reads shared by the pages, the worker and admin."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from subscriptions.models import Event, Subscriber


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


def recipient_ids(event: Event):
    """Recipient ids, streamed (never all subscribers in memory at once)."""
    return recipients(event).values_list("id", flat=True).iterator(chunk_size=2000)


def events_to_fan_out(*, now) -> QuerySet[Event]:
    """Events whose fan-out never finished (a worker killed mid-way), once their lease ran out."""
    return Event.objects.filter(fanned_out_at__isnull=True).filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
