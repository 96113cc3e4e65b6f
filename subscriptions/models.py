"""Subscribers of the status page, the events they are told about, and one delivery per (subscriber, event)."""

import secrets
import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from incidents.models import Component, Incident, IncidentUpdate


def new_token() -> str:
    """The subscriber's link token: 256 bits, URL-safe (confirm, manage and unsubscribe links)."""
    return secrets.token_urlsafe(32)


def new_secret() -> str:
    """A webhook signing secret: 32 random bytes, shown as hex (SPEC §7)."""
    return secrets.token_hex(32)


class Kind(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"
    SLACK = "slack", "Slack"


URL_KINDS = (Kind.WEBHOOK, Kind.SLACK)


class Subscriber(models.Model):
    kind = models.CharField(max_length=8, choices=Kind.choices)
    address = models.CharField(max_length=500, help_text="Email address, or the URL for webhook and Slack kinds.")
    contact_email = models.EmailField(blank=True, help_text="Who is told about a failing webhook or Slack URL.")
    components = models.ManyToManyField(
        Component, blank=True, related_name="subscribers", help_text="None chosen: every component."
    )
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    secret = models.CharField(max_length=64, default=new_secret, editable=False)
    confirmed = models.BooleanField(default=False)
    disabled = models.BooleanField(default=False)
    imported = models.BooleanField(default=False, help_text="Imported from CSV (opted in elsewhere).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # Failure streak (webhook and Slack kinds): reset by any successful delivery.
    failing_since = models.DateTimeField(null=True, blank=True)
    failures_in_row = models.PositiveIntegerField(default=0)
    contact_told_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["confirmed", "disabled", "id"], name="subscriber_active")]
        constraints = [
            models.UniqueConstraint(fields=["kind", "address"], name="subscriber_unique_address"),
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="subscriber_kind_valid"),
            models.CheckConstraint(condition=~Q(address=""), name="subscriber_address_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.address}"

    @property
    def is_url_kind(self) -> bool:
        return self.kind in URL_KINDS

    @property
    def contact(self) -> str:
        return self.address if self.kind == Kind.EMAIL else self.contact_email


class EventKind(models.TextChoices):
    """Every event a subscriber can be told about; the names are the `X-Crashbot-Event` header (SPEC §7)."""

    INCIDENT_CREATED = "incident.created", "Incident created"
    INCIDENT_UPDATED = "incident.updated", "Incident updated"
    INCIDENT_RESOLVED = "incident.resolved", "Incident resolved"
    COMPONENT_UPDATED = "component.updated", "Component updated"
    MAINTENANCE_SCHEDULED = "maintenance.scheduled", "Maintenance scheduled"
    MAINTENANCE_STARTED = "maintenance.started", "Maintenance started"
    MAINTENANCE_COMPLETED = "maintenance.completed", "Maintenance completed"
    MAINTENANCE_CANCELLED = "maintenance.cancelled", "Maintenance cancelled"


class Event(models.Model):
    """Something public happened that subscribers are told about (made by `subscriptions.events`)."""

    key = models.CharField(max_length=120, unique=True, help_text="What it stems from, so it is recorded once.")
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    update = models.ForeignKey(IncidentUpdate, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    component = models.ForeignKey(Component, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    old_status = models.CharField(max_length=32, blank=True)
    new_status = models.CharField(max_length=32, blank=True)
    component_ids = models.JSONField(default=list, blank=True, help_text="Affected components; empty: everyone.")
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["fanned_out_at", "lease_until"], name="event_fan_out_due")]
        constraints = [models.CheckConstraint(condition=Q(kind__in=EventKind.values), name="event_kind_valid")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class Delivery(models.Model):
    """One event to one subscriber; unique, so a re-run or a killed worker sends it at most once more."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    uuid = models.UUIDField(default=uuid.uuid4, editable=False)
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status = models.CharField(max_length=20, blank=True, help_text="HTTP status or SMTP code of the last try.")
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    next_try_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["state", "next_try_at"], name="delivery_due")]
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "event"], name="delivery_once_per_subscriber_event"),
            models.CheckConstraint(condition=Q(state__in=DeliveryState.values), name="delivery_state_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscriber}"


class ComponentWatch(models.Model):
    """The last status of a component that this app saw and announced (component.updated events)."""

    component = models.OneToOneField(Component, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=32)
    incident_status = models.CharField(max_length=32, help_text="What open public incidents alone made it.")
    announced_status = models.CharField(max_length=32, blank=True)
    announced_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.component_id}: {self.status}"


class Throttle(models.Model):
    """One counted action (sign-up, confirmation mail) per bucket, shared by every process."""

    bucket = models.CharField(max_length=200)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["bucket", "at"], name="throttle_bucket_at")]

    def __str__(self) -> str:
        return f"{self.bucket} @ {self.at}"
