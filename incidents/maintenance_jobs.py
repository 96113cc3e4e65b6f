"""The worker's part of scheduled maintenance (SPEC §8): remind, start and complete on time.

`run_due` is a recurring job (`crashbot.scheduling.JOBS`): it takes no argument, finds its
due work in the database and is safe to run again or on two workers at once — every move
is conditional on the status it expects, checked under the row lock
(`services.maintenance_transition(only_from=…)`), so a start missed while the worker was
down happens on the first run after it comes back, exactly once.

It only writes through `incidents.services`; Slack (headline, thread, topic) and
subscribers follow from the `incident_changed` signal like for any other change.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from incidents import selectors, services
from incidents.models import MAINTENANCE_ACTIVE_STATUSES, Incident, Kind, Source, Status

# The worker's rows carry Statuspage's words, so the Slack thread shows them as well as the page.
STARTED_MESSAGE = selectors.STATUS_DEFAULT_BODY[Status.IN_PROGRESS]
COMPLETED_MESSAGE = selectors.STATUS_DEFAULT_BODY[Status.COMPLETED]


def run_due() -> dict:
    """Remind, start and complete every maintenance that is due now; returns counts (for logs and tests)."""
    now = timezone.now()
    counts = {"reminded": 0, "started": 0, "completed": 0}
    for incident_id in _due_reminders(now):
        reminded = services.maintenance_remind(incident_id=incident_id, message=_reminder_text(incident_id, now))
        counts["reminded"] += reminded is not None
    for incident_id in _due(Status.SCHEDULED, "scheduled_for", "auto_start", now):
        started = services.maintenance_transition(
            incident_id=incident_id,
            status=Status.IN_PROGRESS,
            author=services.SYSTEM_AUTHOR,
            source=Source.SYSTEM,
            message=STARTED_MESSAGE,
            only_from=(Status.SCHEDULED,),
        )
        counts["started"] += started is not None
    for incident_id in _due(MAINTENANCE_ACTIVE_STATUSES, "scheduled_until", "auto_complete", now):
        completed = services.maintenance_transition(
            incident_id=incident_id,
            status=Status.COMPLETED,
            author=services.SYSTEM_AUTHOR,
            source=Source.SYSTEM,
            message=COMPLETED_MESSAGE,
            only_from=MAINTENANCE_ACTIVE_STATUSES,
        )
        counts["completed"] += completed is not None
    return counts


def _due(statuses, moment: str, flag: str, now: datetime) -> list[int]:
    statuses = (statuses,) if isinstance(statuses, str) else tuple(statuses)
    return list(
        Incident.objects.filter(
            kind=Kind.MAINTENANCE, status__in=statuses, **{f"{moment}__lte": now, flag: True}
        ).values_list("pk", flat=True)
    )


def _due_reminders(now: datetime) -> list[int]:
    """Scheduled maintenances starting within the reminder lead time that were not reminded yet.

    One whose start already passed gets no reminder (it is being started instead).
    """
    lead = timedelta(minutes=settings.MAINTENANCE_REMINDER_MINUTES)
    if lead <= timedelta(0):
        return []
    return list(
        Incident.objects.filter(
            kind=Kind.MAINTENANCE,
            status=Status.SCHEDULED,
            reminded_at__isnull=True,
            scheduled_for__gt=now,
            scheduled_for__lte=now + lead,
        ).values_list("pk", flat=True)
    )


def _reminder_text(incident_id: int, now: datetime) -> str:
    incident = Incident.objects.prefetch_related("components").get(pk=incident_id)
    minutes = max(1, round((incident.scheduled_for - now).total_seconds() / 60))
    start = timezone.localtime(incident.scheduled_for).strftime("%Y-%m-%d %H:%M %Z")
    components = ", ".join(c.name for c in incident.components.all()) or "no components set"
    how = "the worker starts it then" if incident.auto_start else "start it by hand (auto-start is off)"
    return f"Reminder: this maintenance starts in {minutes} min, at {start} ({components}); {how}."
