"""Probes, their raw results and the alerts taken in (SPEC §10).

Raw results live here for `PROBE_RESULTS_DAYS`; what the page shows (detected status, daily
uptime figures) is written through `incidents.services` into the incidents app.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from incidents.models import Component, Incident


class Method(models.TextChoices):
    GET = "GET", "GET"
    HEAD = "HEAD", "HEAD"


class ProbeState(models.TextChoices):
    UP = "up", "Up"
    DEGRADED = "degraded", "Slow (degraded performance)"
    DOWN = "down", "Down"


class Probe(models.Model):
    """An HTTP check of one component, run by the worker every `interval_seconds`.

    `state` changes only after `threshold` results in a row say so (hysteresis both ways),
    so one failed or one good check never flips what the page shows.
    """

    component = models.OneToOneField(Component, on_delete=models.CASCADE, related_name="probe")
    url = models.URLField(max_length=500, verbose_name="URL", help_text="http:// or https:// address to check.")
    method = models.CharField(max_length=4, choices=Method.choices, default=Method.GET)
    expected_status_min = models.PositiveSmallIntegerField(
        default=200, validators=[MinValueValidator(100), MaxValueValidator(599)]
    )
    expected_status_max = models.PositiveSmallIntegerField(
        default=399, validators=[MinValueValidator(100), MaxValueValidator(599)]
    )
    body_contains = models.CharField(
        max_length=200, blank=True, help_text="Optional text the response body must contain (GET only)."
    )
    timeout_seconds = models.FloatField(default=5.0, validators=[MinValueValidator(0.1), MaxValueValidator(30)])
    interval_seconds = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(5), MaxValueValidator(3600)]
    )
    threshold = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        verbose_name="results in a row",
        help_text="Failures in a row before the component counts as down, and successes in a row before it recovers.",
    )
    slow_ms = models.PositiveIntegerField(
        null=True,
        blank=True,
        verbose_name="slow threshold (ms)",
        help_text="Optional: slower answers count as degraded performance.",
    )
    enabled = models.BooleanField(default=True)
    # Worker state.
    state = models.CharField(max_length=8, choices=ProbeState.choices, default=ProbeState.UP, editable=False)
    streak_kind = models.CharField(max_length=8, choices=ProbeState.choices, blank=True, editable=False)
    streak = models.PositiveIntegerField(default=0, editable=False)
    next_due_at = models.DateTimeField(default=timezone.now, editable=False)
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.CharField(max_length=300, blank=True, editable=False)
    state_since = models.DateTimeField(null=True, blank=True, editable=False)
    auto_incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        ordering = ["component__position", "component__name"]
        indexes = [models.Index(fields=["enabled", "next_due_at"], name="probe_due")]
        constraints = [
            models.CheckConstraint(
                condition=Q(expected_status_min__lte=F("expected_status_max")), name="probe_expected_range"
            ),
            models.CheckConstraint(condition=Q(method__in=Method.values), name="probe_method_valid"),
            models.CheckConstraint(condition=Q(state__in=ProbeState.values), name="probe_state_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.component} probe"


class ProbeResult(models.Model):
    """One check. `state` is the probe's state after this result (what the roll-up counts)."""

    probe = models.ForeignKey(Probe, on_delete=models.CASCADE, related_name="results")
    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="+")
    checked_at = models.DateTimeField()
    ok = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    error = models.CharField(max_length=300, blank=True)
    state = models.CharField(max_length=8, choices=ProbeState.choices)
    maintenance = models.BooleanField(default=False)

    class Meta:
        ordering = ["-checked_at"]
        indexes = [
            models.Index(fields=["component", "checked_at"], name="probe_result_component_time"),
            models.Index(fields=["checked_at"], name="probe_result_time"),
        ]

    def __str__(self) -> str:
        return f"{self.component_id} {self.checked_at:%Y-%m-%d %H:%M:%S} {'ok' if self.ok else self.error}"


class AlertSource(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Alertmanager"
    GRAFANA = "grafana", "Grafana"


class AlertState(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class AlertRecord(models.Model):
    """One alert (by fingerprint) and the incident it opened: a repeat never opens another."""

    source = models.CharField(max_length=16, choices=AlertSource.choices)
    fingerprint = models.CharField(max_length=128)
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=8, choices=AlertState.choices, default=AlertState.FIRING)
    alertname = models.CharField(max_length=200, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    repeats = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["source", "fingerprint"], name="alert_one_per_fingerprint"),
            models.CheckConstraint(condition=Q(state__in=AlertState.values), name="alert_state_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.fingerprint} → {self.incident_id}"
