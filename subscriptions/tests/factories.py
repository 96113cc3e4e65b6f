"""Subscribers as they are after a confirmed sign-up (or an import)."""

from datetime import timedelta

from django.utils import timezone

from subscriptions.models import Kind, Subscriber


def make_subscriber(address: str, *, kind: str = Kind.EMAIL, components=(), **fields) -> Subscriber:
    now = timezone.now()
    subscriber = Subscriber.objects.create(
        kind=kind,
        address=address,
        contact_email=fields.pop("contact_email", "ops@example.com" if kind != Kind.EMAIL else ""),
        confirmed=fields.pop("confirmed", True),
        confirmed_at=fields.pop("confirmed_at", now - timedelta(minutes=5)),
        **fields,
    )
    subscriber.components.set(components)
    return subscriber
