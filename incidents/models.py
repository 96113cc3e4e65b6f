from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone


class Severity(models.TextChoices):
    SEV1 = "sev-1", "Critical, impacting more than 50% of users"
    SEV2 = "sev-2", "Critical, impacting some users"
    SEV3 = "sev-3", "Stability or minor user impact"
    SEV4 = "sev-4", "Minor issue"
    SEV5 = "sev-5", "Cosmetic issue"


# Statuspage impact of each severity (SPEC §2).
SEVERITY_IMPACT = {
    Severity.SEV1: "critical",
    Severity.SEV2: "major",
    Severity.SEV3: "minor",
    Severity.SEV4: "minor",
    Severity.SEV5: "none",
}


class Status(models.TextChoices):
    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"
    INVALID = "invalid", "Invalid"
    # Scheduled maintenance (SPEC §8), Statuspage's maintenance statuses plus `cancelled`.
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    VERIFYING = "verifying", "Verifying"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


OPEN_STATUSES = (Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)
INCIDENT_STATUSES = (*OPEN_STATUSES, Status.RESOLVED, Status.INVALID)
MAINTENANCE_STATUSES = (Status.SCHEDULED, Status.IN_PROGRESS, Status.VERIFYING, Status.COMPLETED, Status.CANCELLED)
# A maintenance whose components are under maintenance right now.
MAINTENANCE_ACTIVE_STATUSES = (Status.IN_PROGRESS, Status.VERIFYING)
# Statuses with a `closed_at`: the incident or the maintenance is over.
CLOSED_STATUSES = (Status.RESOLVED, Status.COMPLETED)


class Kind(models.TextChoices):
    INCIDENT = "incident", "Incident"
    MAINTENANCE = "maintenance", "Maintenance"


# What a backfill's first timeline row says to staff when nobody wrote anything (never shown publicly).
BACKFILL_MESSAGE = "Backfilled."


class Visibility(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"


class Source(models.TextChoices):
    SLACK = "slack", "Slack"
    ADMIN = "admin", "Admin"
    API = "api", "API"
    IMPORT = "import", "Import"
    ALERT = "alert", "Alert"
    SYSTEM = "system", "System"  # the worker's own rows (maintenance transitions, reminders, probes); author `crashbot`


class ComponentStatus(models.TextChoices):
    OPERATIONAL = "operational", "Operational"
    DEGRADED_PERFORMANCE = "degraded_performance", "Degraded performance"
    PARTIAL_OUTAGE = "partial_outage", "Partial outage"
    MAJOR_OUTAGE = "major_outage", "Major outage"
    UNDER_MAINTENANCE = "under_maintenance", "Under maintenance"


# The statuses a probe can detect (SPEC §10): down, or up but slow.
DETECTED_STATUSES = [
    (ComponentStatus.MAJOR_OUTAGE.value, ComponentStatus.MAJOR_OUTAGE.label),
    (ComponentStatus.DEGRADED_PERFORMANCE.value, ComponentStatus.DEGRADED_PERFORMANCE.label),
]


class Component(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)
    group = models.CharField(max_length=100, blank=True, help_text="Optional group name shown on the status page.")
    status_override = models.CharField(
        max_length=32,
        choices=ComponentStatus.choices,
        blank=True,
        help_text="Leave blank to derive the status from open incidents (e.g. set for planned maintenance).",
    )
    # What monitoring detected (SPEC §10), written only through `services.component_set_detected`.
    detected_status = models.CharField(
        max_length=32,
        choices=DETECTED_STATUSES,
        blank=True,
        editable=False,
        help_text="Set by monitoring probes; blank while the probe sees the component healthy (or has no probe).",
    )
    detected_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status_override="") | Q(status_override__in=ComponentStatus.values),
                name="component_status_override_valid",
            ),
            models.CheckConstraint(
                condition=Q(detected_status="") | Q(detected_status__in=[v for v, _ in DETECTED_STATUSES]),
                name="component_detected_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ComponentDailyUptime(models.Model):
    """One UTC day of one component as its probe saw it (SPEC §4, §10).

    Written by monitoring's daily roll-up through `services.component_uptime_record`, so the
    incidents app computes uptime % from probes without importing monitoring. `down_seconds`
    already weighs the day per SPEC §4 (major outage counts fully; degraded and maintenance as up).
    """

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="daily_uptime")
    day = models.DateField()
    observed_seconds = models.PositiveIntegerField()
    down_seconds = models.PositiveIntegerField()
    checks = models.PositiveIntegerField(default=0)
    failed_checks = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=16, default="probe")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["component", "day"]
        indexes = [models.Index(fields=["updated_at"], name="daily_uptime_updated")]
        constraints = [
            models.UniqueConstraint(fields=["component", "day"], name="daily_uptime_one_per_day"),
            models.CheckConstraint(
                condition=Q(down_seconds__lte=F("observed_seconds")), name="daily_uptime_down_le_observed"
            ),
            models.CheckConstraint(condition=Q(observed_seconds__lte=86400), name="daily_uptime_at_most_a_day"),
        ]

    def __str__(self) -> str:
        return f"{self.component_id} {self.day}: {self.down_seconds}/{self.observed_seconds} s down"

    @property
    def up_fraction(self) -> float:
        return 1.0 - self.down_seconds / self.observed_seconds if self.observed_seconds else 1.0


class Person(models.Model):
    """A Slack user's display name, resolved once by the worker and reused by public pages.

    Public requests never call Slack (the first version made three Web API calls per
    incident per request); they read this table instead.
    """

    slack_id = models.CharField(max_length=32, unique=True)
    display_name = models.CharField(max_length=200)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return f"{self.display_name} ({self.slack_id})"


class StaffSlackIdentity(models.Model):
    """The Slack user a staff account is (README "Sign in with Slack").

    A linked staff member's admin edits are written with their Slack user id as author, as their
    Slack commands are, so the timeline shows one person. The link is made by an administrator or,
    once, by Sign in with Slack from a verified email (docs/SLACK.md); sign-in accepts nobody else.
    """

    class LinkedVia(models.TextChoices):
        ADMIN = "admin", "Linked by an administrator"
        EMAIL = "email", "Sign in with Slack (verified email matched)"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slack_identity")
    slack_user_id = models.CharField(
        "Slack user id", max_length=32, help_text="U… or W… (Slack → profile → ⋮ → Copy member ID)."
    )
    slack_team_id = models.CharField("Slack workspace id", max_length=32, blank=True)
    linked_via = models.CharField(max_length=8, choices=LinkedVia.choices, default=LinkedVia.ADMIN)
    linked_at = models.DateTimeField(default=timezone.now)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "staff Slack identity"
        verbose_name_plural = "staff Slack identities"
        constraints = [models.UniqueConstraint(fields=["slack_user_id"], name="staff_slack_user_id_unique")]

    def __str__(self) -> str:
        return f"{self.user} = {self.slack_user_id}"


class Incident(models.Model):
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.INCIDENT)
    title = models.CharField(max_length=120)
    description = models.TextField(max_length=4000, blank=True, help_text="Markdown.")
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.SEV3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.INVESTIGATING)
    visibility = models.CharField(max_length=8, choices=Visibility.choices, default=Visibility.PUBLIC)
    reported_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    monitoring_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Scheduled maintenance only (kind `maintenance`): the announced window, what the worker
    # does by itself, and when it actually started and reminded the thread.
    scheduled_for = models.DateTimeField(null=True, blank=True)
    scheduled_until = models.DateTimeField(null=True, blank=True)
    auto_start = models.BooleanField(default=True, help_text="The worker starts it at the scheduled start.")
    auto_complete = models.BooleanField(default=True, help_text="The worker completes it at the scheduled end.")
    started_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True, editable=False)
    point = models.CharField(max_length=32, blank=True, help_text="Slack user id of the point person.")
    contact = models.CharField(max_length=32, blank=True, help_text="Slack user id of the contact.")
    point_name = models.CharField(
        max_length=200, blank=True, help_text="Free-text name, used when there is no Slack user (e.g. imported)."
    )
    contact_name = models.CharField(
        max_length=200, blank=True, help_text="Free-text name, used when there is no Slack user (e.g. imported)."
    )
    rca_link = models.URLField(max_length=500, blank=True, verbose_name="RCA link")
    components = models.ManyToManyField(Component, blank=True, related_name="incidents")
    update_number = models.PositiveIntegerField(default=0, editable=False)
    # What the public sees (SPEC §3, §4), moved only by public changes so that internal
    # notes and internal periods never show as a changed count, date or ETag.
    public_entries = models.PositiveIntegerField(
        default=0, editable=False, help_text="Public timeline entries so far (the last public sequence number)."
    )
    public_update_number = models.PositiveIntegerField(
        default=0, editable=False, help_text="Public changes (the legacy /list update_number)."
    )
    public_modified_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Last public change (null while never public)."
    )
    created_by = models.CharField(max_length=100, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    modified_by = models.CharField(max_length=100, editable=False)
    modified_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-reported_at"]
        indexes = [
            models.Index(fields=["status", "severity", "reported_at"], name="incident_open_order"),
            models.Index(fields=["visibility", "status", "reported_at"], name="incident_public_list"),
            models.Index(fields=["closed_at"], name="incident_closed_at"),
            models.Index(fields=["modified_at"], name="incident_modified_at"),
            # Public reads (issue 7 profile): newest-first history and incidents.json, recently
            # resolved, and the page's last public change, each an index range scan with a LIMIT.
            models.Index(fields=["visibility", "reported_at", "id"], name="incident_public_recent"),
            models.Index(fields=["visibility", "status", "closed_at"], name="incident_public_closed"),
            models.Index(fields=["visibility", "public_modified_at"], name="incident_public_modified"),
            # The version stamp's newest public change (`selectors.public_version_stamp`).
            models.Index(fields=["public_modified_at"], name="incident_public_changed"),
            # Maintenance: the worker's due work and the public upcoming/active lists.
            models.Index(fields=["kind", "status", "scheduled_for"], name="incident_maintenance_due"),
            # The admin list's order (newest first, then id) and its date hierarchy's probes (issue 17).
            # Title search has a trigram index on PostgreSQL (migration 0006), outside the model state.
            models.Index(fields=["reported_at", "id"], name="incident_reported_order"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(title=""), name="incident_title_not_empty"),
            models.CheckConstraint(condition=Q(severity__in=Severity.values), name="incident_severity_valid"),
            models.CheckConstraint(condition=Q(status__in=Status.values), name="incident_status_valid"),
            models.CheckConstraint(condition=Q(visibility__in=Visibility.values), name="incident_visibility_valid"),
            models.CheckConstraint(
                condition=(Q(status__in=CLOSED_STATUSES) & Q(closed_at__isnull=False))
                | (~Q(status__in=CLOSED_STATUSES) & Q(closed_at__isnull=True)),
                name="incident_closed_at_iff_resolved",
                violation_error_message="A resolved incident needs a closed time; any other status must not have one.",
            ),
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="incident_kind_valid"),
            models.CheckConstraint(
                condition=(Q(kind=Kind.INCIDENT) & Q(status__in=INCIDENT_STATUSES))
                | (
                    Q(kind=Kind.MAINTENANCE)
                    & Q(status__in=MAINTENANCE_STATUSES)
                    & Q(scheduled_for__isnull=False)
                    & Q(scheduled_until__gt=F("scheduled_for"))
                ),
                name="incident_kind_status_window",
                violation_error_message="An incident has an incident status; a maintenance has a maintenance status "
                "and a window whose end is after its start.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("incidents:detail", kwargs={"key": self.key})

    @property
    def key(self) -> str:
        return f"{settings.INCIDENT_PREFIX}-{self.pk}"

    @property
    def is_open(self) -> bool:
        """An open *incident* (a maintenance never is: it is no outage, SPEC §8)."""
        return self.status in OPEN_STATUSES

    @property
    def is_maintenance(self) -> bool:
        return self.kind == Kind.MAINTENANCE

    @property
    def is_active_maintenance(self) -> bool:
        return self.kind == Kind.MAINTENANCE and self.status in MAINTENANCE_ACTIVE_STATUSES

    @property
    def impact(self) -> str:
        """Statuspage impact: from the severity, or `maintenance` for a maintenance."""
        if self.kind == Kind.MAINTENANCE:
            return "maintenance"
        return SEVERITY_IMPACT[Severity(self.severity)]

    @property
    def duration(self):
        """Time from report to close (or to now while open); None for invalid incidents."""
        if self.status == Status.INVALID:
            return None
        if self.kind == Kind.MAINTENANCE:
            if self.started_at is None:
                return None
            return (self.closed_at or timezone.now()) - self.started_at
        end = self.closed_at or timezone.now()
        return end - self.reported_at


class IncidentUpdate(models.Model):
    """One entry of an incident's append-only timeline: every change writes exactly one."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="updates")
    number = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    author = models.CharField(max_length=100)
    source = models.CharField(max_length=8, choices=Source.choices)
    status = models.CharField(max_length=16, choices=Status.choices)
    message = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True)
    visibility = models.CharField(max_length=8, choices=Visibility.choices, default=Visibility.PUBLIC)
    public_number = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="The n-th public entry of the incident (page anchors, feed and v2 ids); null when not public.",
    )

    class Meta:
        ordering = ["incident", "number"]
        indexes = [
            models.Index(fields=["visibility", "created_at"], name="update_public_feed"),
            # An incident's public timeline (prefetched for pages and the v2 API) without scanning every public row.
            models.Index(fields=["incident", "visibility", "number"], name="update_public_timeline"),
            # Newest public entries (version stamp, feeds) without reading internal rows.
            models.Index(fields=["id"], condition=Q(public_number__isnull=False), name="update_public_sequence"),
            # Backfilled incidents (metrics leave their inferred MTTA out) without scanning every row (issue 17).
            models.Index(
                fields=["incident"], condition=Q(number=1, changes__has_key="backfill"), name="update_backfill"
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["incident", "number"], name="update_number_unique_per_incident"),
            models.CheckConstraint(condition=Q(number__gte=1), name="update_number_positive"),
            models.UniqueConstraint(fields=["incident", "public_number"], name="update_public_number_unique"),
            models.CheckConstraint(condition=Q(source__in=Source.values), name="update_source_valid"),
            models.CheckConstraint(condition=Q(visibility__in=Visibility.values), name="update_visibility_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.incident_id}#{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Timeline entries are append-only.")
        super().save(*args, **kwargs)
