"""What the worker has posted to Slack, so the sync can tell what is still to do.

The database is the truth and Slack a view of it; these rows are the map between the two.
Unique constraints make "posted twice" impossible to record, and a row is claimed (saved
without a ``ts``) before its message is posted, so a second worker sees the claim.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from incidents.models import Incident


class MessageKind(models.TextChoices):
    HEADLINE = "headline", "Headline"
    REPLY = "reply", "Thread reply"


class SlackMessage(models.Model):
    """One message the bot posted (or is posting) for an incident.

    A headline per incident (``entry_number`` null) and a thread reply per timeline entry
    that has a message (``entry_number`` = ``IncidentUpdate.number``). ``ts`` is empty while
    the post is in flight; ``digest`` is the hash of the headline last sent, so an update is
    only sent when what Slack shows would change.
    """

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="slack_messages")
    kind = models.CharField(max_length=8, choices=MessageKind.choices)
    entry_number = models.PositiveIntegerField(null=True, blank=True)
    channel = models.CharField(max_length=32)
    ts = models.CharField(max_length=32, blank=True)
    digest = models.CharField(max_length=64, blank=True)
    claimed_at = models.DateTimeField(default=timezone.now)
    posted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["incident", "kind", "entry_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident"], condition=Q(kind="headline"), name="slack_one_headline_per_incident"
            ),
            models.UniqueConstraint(
                fields=["incident", "entry_number"], condition=Q(kind="reply"), name="slack_one_reply_per_entry"
            ),
            models.UniqueConstraint(fields=["channel", "ts"], condition=~Q(ts=""), name="slack_message_ts_unique"),
            models.CheckConstraint(
                condition=(Q(kind="headline") & Q(entry_number__isnull=True))
                | (Q(kind="reply") & Q(entry_number__isnull=False)),
                name="slack_message_kind_entry",
            ),
        ]

    def __str__(self) -> str:
        what = "headline" if self.kind == MessageKind.HEADLINE else f"reply #{self.entry_number}"
        return f"{self.incident_id} {what} {self.channel}/{self.ts or '(posting)'}"


class ChannelTopic(models.Model):
    """The topic the bot last set on a channel: setting an unchanged topic would post a
    "set the channel topic" notice in the channel every time."""

    channel = models.CharField(max_length=32, unique=True)
    topic = models.TextField(blank=True)
    set_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.channel}: {self.topic[:40]}"


class HandledRequest(models.Model):
    """A signed Slack request already handled, and the reply it got (SPEC §3: idempotency).

    Keyed by the hash of its signature base (timestamp and raw body), in the database every
    web process shares, so a retry (``X-Slack-Retry-Num``) or a replay within 10 minutes gets
    the first reply and changes nothing, whichever process it reaches. ``done`` is False
    while the first request is still being handled.
    """

    key = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    done = models.BooleanField(default=False)
    reply = models.JSONField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key[:12]} {'answered' if self.done else 'in progress'}"


class SyncLease(models.Model):
    """A short, expiring lock held while one worker talks to Slack about one thing.

    Row locks can't be held across a Slack call (on SQLite that would block every web
    write for as long as Slack takes), so a worker takes a lease with one conditional
    UPDATE; a worker that dies only blocks the item until ``until`` passes.
    """

    name = models.CharField(max_length=64, unique=True)
    owner = models.CharField(max_length=64, blank=True)
    until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.owner or 'free'})"


# --- responders kept on track (SPEC §9): reminders and a channel per incident -------------------------------
class ReminderKind(models.TextChoices):
    UPDATE = "update", "No public update"
    UNASSIGNED = "unassigned", "No point person"
    RCA = "rca", "RCA due"


class Reminder(models.Model):
    """One reminder sent (or being sent) in an incident's thread.

    ``due_at`` is the moment its window ended; unique per incident and kind, so two workers
    that find the same reminder due can't both send it. ``entry_number`` is the ``system``
    timeline row it wrote (the reminder posts that row itself; the thread sync skips it).
    """

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="slack_reminders")
    kind = models.CharField(max_length=16, choices=ReminderKind.choices)
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(default=timezone.now)
    entry_number = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["incident", "kind", "due_at"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "kind", "due_at"], name="slack_reminder_once_per_window"),
            models.CheckConstraint(condition=Q(kind__in=ReminderKind.values), name="slack_reminder_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.kind} due {self.due_at.isoformat()}"


class ReminderSnooze(models.Model):
    """An incident's reminders are quiet until ``until`` (the "Snooze 30 min" button); per incident."""

    incident = models.OneToOneField(Incident, on_delete=models.PROTECT, related_name="slack_snooze")
    until = models.DateTimeField()
    by = models.CharField(max_length=32, blank=True)

    def __str__(self) -> str:
        return f"{self.incident_id} snoozed until {self.until.isoformat()}"


class IncidentChannel(models.Model):
    """A Slack channel opened for one incident, on demand.

    Created (without ``channel``) when someone asks; the worker then creates it in Slack. At
    most one live (not archived) channel per incident; once archived, a bot can't unarchive
    it, so a reopened incident gets a fresh one.
    """

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="slack_channels")
    channel = models.CharField(max_length=32, blank=True)
    name = models.CharField(max_length=80, blank=True)
    requested_by = models.CharField(max_length=32, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(
        null=True, blank=True, help_text="When invites, summary, bookmark and topic were done."
    )
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["incident", "requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident"], condition=Q(archived_at__isnull=True), name="slack_one_live_channel_per_incident"
            ),
            models.UniqueConstraint(fields=["channel"], condition=~Q(channel=""), name="slack_incident_channel_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.incident_id} #{self.name or '(opening)'}"
