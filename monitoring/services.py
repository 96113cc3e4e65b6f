"""Writes of the monitoring app: probes, their results, daily roll-ups, alerts taken in.

What the public sees is written through `incidents.services` (detected status, daily uptime
figures, incidents opened by alerts), so Slack, the page and subscribers follow the usual rules.
The two recurring jobs (`crashbot/scheduling.py`) are `run_due_probes` and `rollup_and_prune`:
both find their own due work in the database and are safe to run again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from crashbot.urlsafety import UnsafeURL
from incidents import services as incident_services
from incidents.models import (
    OPEN_STATUSES,
    Component,
    ComponentDailyUptime,
    ComponentStatus,
    Severity,
    Source,
    Status,
    Visibility,
)
from monitoring import probing, selectors
from monitoring.alerts import AlertIn, severity_map
from monitoring.models import AlertRecord, AlertSource, AlertState, Probe, ProbeResult, ProbeState

logger = logging.getLogger(__name__)

AUTHOR = "crashbot"
# What the page shows for each probe state (SPEC §10).
DETECTED_STATUS = {
    ProbeState.UP: "",
    ProbeState.DEGRADED: ComponentStatus.DEGRADED_PERFORMANCE,
    ProbeState.DOWN: ComponentStatus.MAJOR_OUTAGE,
}
DAY = 86400


# -- probes: configuration -----------------------------------------------------------------------------------
def probe_validate(probe: Probe) -> None:
    """Raise `ValidationError` per field; resolves the host to apply the private-address rule."""
    errors: dict[str, list[str]] = {}
    try:
        probe.full_clean(exclude=["component"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if probe.url and "url" not in errors:
        try:
            probing.resolve(probe.url, allow_private=settings.PROBES_ALLOW_PRIVATE_URLS)
        except UnsafeURL as exc:
            errors["url"] = [str(exc)]
    if (
        probe.expected_status_min
        and probe.expected_status_max
        and probe.expected_status_min > probe.expected_status_max
    ):
        errors.setdefault("expected_status_max", []).append("The highest expected status is below the lowest.")
    if probe.body_contains and probe.method == "HEAD":
        errors.setdefault("body_contains", []).append("A HEAD request has no body to search; use GET.")
    if errors:
        raise ValidationError(errors)


def probe_save(*, probe: Probe) -> Probe:
    """Create or change a probe; it runs at once. Disabling it clears what it had detected."""
    probe_validate(probe)
    with transaction.atomic():
        probe.next_due_at = timezone.now()
        if not probe.enabled:
            _reset_state(probe)
        probe.save()
        if not probe.enabled:
            incident_services.component_set_detected(component_id=probe.component_id, status="")
    return probe


def probe_delete(*, probe_id: int) -> None:
    with transaction.atomic():
        probe = Probe.objects.select_for_update().filter(pk=probe_id).first()
        if probe is None:
            return
        component_id = probe.component_id
        probe.delete()
        incident_services.component_set_detected(component_id=component_id, status="")


def _reset_state(probe: Probe) -> None:
    probe.state, probe.streak_kind, probe.streak, probe.state_since = ProbeState.UP, "", 0, None


# -- probes: the worker's job ----------------------------------------------------------------------------------
def run_due_probes(*, now: datetime | None = None) -> dict:
    """Run every due probe once, concurrently on a bounded pool, and record the results.

    Each probe is claimed with a conditional update (its `next_due_at` moves on), so two
    workers never run it twice. The HTTP checks run in threads that never touch the
    database; results are written here, one short transaction each. One slow target only
    holds one thread, for at most its timeout.
    """
    now = now or timezone.now()
    claimed: list[Probe] = []
    for probe in selectors.probes_due(now=now)[: settings.PROBE_BATCH_MAX]:
        next_due = now + timedelta(seconds=probe.interval_seconds)
        if Probe.objects.filter(pk=probe.pk, next_due_at=probe.next_due_at).update(next_due_at=next_due):
            claimed.append(probe)
    if not claimed:
        return {"ran": 0}
    checks = [
        probing.Check(
            probe_id=p.pk,
            url=p.url,
            method=p.method,
            expected_min=p.expected_status_min,
            expected_max=p.expected_status_max,
            body_contains=p.body_contains,
            timeout=p.timeout_seconds,
            slow_ms=p.slow_ms,
        )
        for p in claimed
    ]
    allow_private = settings.PROBES_ALLOW_PRIVATE_URLS
    workers = max(1, min(settings.PROBE_CONCURRENCY, len(checks)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as pool:
        outcomes = list(pool.map(lambda c: probing.run_check(c, allow_private=allow_private), checks))
    changed = 0
    for probe, outcome in zip(claimed, outcomes, strict=True):
        changed += probe_record_result(probe_id=probe.pk, outcome=outcome, at=now)
    return {"ran": len(claimed), "changed": changed}


def classify(outcome: probing.Outcome) -> ProbeState:
    if not outcome.ok:
        return ProbeState.DOWN
    return ProbeState.DEGRADED if outcome.slow else ProbeState.UP


def probe_record_result(*, probe_id: int, outcome: probing.Outcome, at: datetime) -> bool:
    """Store one result and move the probe's state after `threshold` results in a row agree.

    Returns whether the state changed. A change is written to the component through
    `incidents.services.component_set_detected` (which announces it once, after commit).
    """
    with transaction.atomic():
        probe = Probe.objects.select_for_update().select_related("component").filter(pk=probe_id).first()
        if probe is None or not probe.enabled:
            return False
        kind = classify(outcome)
        if probe.streak_kind == kind:
            probe.streak += 1
        else:
            probe.streak_kind, probe.streak = kind, 1
        old = probe.state
        if kind != old and probe.streak >= probe.threshold:
            probe.state, probe.state_since = kind, at
        maintenance = probe.component.status_override == ComponentStatus.UNDER_MAINTENANCE
        ProbeResult.objects.create(
            probe=probe,
            component_id=probe.component_id,
            checked_at=at,
            ok=outcome.ok,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            error=outcome.error[:300],
            state=probe.state,
            maintenance=maintenance,
        )
        probe.last_checked_at = at
        probe.last_error = outcome.error[:300]
        probe.save(update_fields=["state", "state_since", "streak_kind", "streak", "last_checked_at", "last_error"])
        if probe.state == old:
            return False
        note = probe.last_error if probe.state == ProbeState.DOWN else ""
        if probe.state == ProbeState.DEGRADED:
            note = f"Answering in {outcome.latency_ms} ms (slow threshold {probe.slow_ms} ms)"
        incident_services.component_set_detected(
            component_id=probe.component_id, status=DETECTED_STATUS[ProbeState(probe.state)], note=note, at=at
        )
        if settings.PROBE_AUTO_INCIDENT:
            _auto_incident(probe, old=old, note=note)
    logger.info("Probe of %s: %s → %s (%s)", probe.component.slug, old, probe.state, note or "ok")
    return True


def _auto_incident(probe: Probe, *, old: str, note: str) -> None:
    """`PROBE_AUTO_INCIDENT=True`: a down component opens an internal sev-2 incident; recovery resolves it."""
    component = probe.component
    if probe.state == ProbeState.DOWN and probe.auto_incident_id is None:
        incident = incident_services.incident_create(
            title=f"{component.name} is down (detected by monitoring)"[:120],
            description=f"The probe of {component.name} failed {probe.threshold} times in a row: {note}",
            author=AUTHOR,
            source=Source.SYSTEM,
            severity=Severity.SEV2,
            visibility=Visibility.INTERNAL,
            components=[component.pk],
        )
        probe.auto_incident = incident
        probe.save(update_fields=["auto_incident"])
    elif probe.state == ProbeState.UP and probe.auto_incident_id is not None:
        incident = probe.auto_incident
        if incident.status not in (Status.RESOLVED, Status.INVALID):
            incident_services.incident_update(
                incident_id=incident.pk,
                author=AUTHOR,
                source=Source.SYSTEM,
                status=Status.RESOLVED,
                message=f"{component.name} answers again ({probe.threshold} good checks in a row).",
                message_visibility=Visibility.INTERNAL,
            )
        probe.auto_incident = None
        probe.save(update_fields=["auto_incident"])


# -- roll-up and retention -----------------------------------------------------------------------------------
@dataclass
class _DayTally:
    observed: float = 0.0
    down: float = 0.0
    checks: int = 0
    failed: int = 0


def rollup_day_figures(rows, *, until: datetime) -> dict[tuple[int, date], _DayTally]:
    """Per (component, UTC day): seconds observed and seconds down, from time-ordered results.

    A result's state holds until the next result of its component, at most two intervals
    (a gap while the worker was down is not counted at all), and the last one for one
    interval (not beyond `until`). Seconds in `down` count as down unless the component was
    under maintenance; `degraded` counts as up (SPEC §4). `rows` yields
    `(component_id, checked_at, state, ok, maintenance, interval_seconds)` ordered by
    component, then time.
    """
    tallies: dict[tuple[int, date], _DayTally] = defaultdict(_DayTally)
    previous = None
    for row in [*rows, None]:
        if previous is not None:
            component_id, at, state, ok, maintenance, interval = previous
            cap = at + timedelta(seconds=interval * (2 if row is not None and row[0] == component_id else 1))
            end = min(row[1], cap) if row is not None and row[0] == component_id else min(cap, until)
            tally = tallies[(component_id, at.astimezone(UTC).date())]
            tally.checks += 1
            tally.failed += 0 if ok else 1
            _spread(tallies, component_id, at, end, down=state == ProbeState.DOWN and not maintenance)
        previous = row
    return tallies


def _spread(tallies, component_id: int, start: datetime, end: datetime, *, down: bool) -> None:
    """Add the span [start, end) to each UTC day it covers."""
    while start < end:
        day = start.astimezone(UTC).date()
        day_end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
        stop = min(end, day_end)
        seconds = (stop - start).total_seconds()
        tally = tallies[(component_id, day)]
        tally.observed += seconds
        if down:
            tally.down += seconds
        start = stop


def rollup_and_prune(*, now: datetime | None = None) -> dict:
    """Write daily uptime figures for every day that raw results still cover and that is not final yet,
    then delete raw results older than `PROBE_RESULTS_DAYS` and figures older than `PROBE_UPTIME_KEEP_DAYS`.

    A past day is final once its figures were written after the day ended (plus one
    interval margin); today is rewritten on every run. Safe to run again at any time.
    """
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    oldest = today - timedelta(days=settings.PROBE_RESULTS_DAYS)
    final = {
        (c, d)
        for c, d, updated in ComponentDailyUptime.objects.filter(day__gte=oldest).values_list(
            "component_id", "day", "updated_at"
        )
        if updated >= datetime.combine(d + timedelta(days=1), time.min, tzinfo=UTC) + timedelta(hours=1)
    }
    probed = set(Probe.objects.values_list("component_id", flat=True))
    first_open = oldest
    while first_open < today and all((c, first_open) in final for c in probed):
        first_open += timedelta(days=1)
    start = datetime.combine(first_open, time.min, tzinfo=UTC)
    # A result just before midnight holds into the next day: read back two longest intervals.
    rows = selectors.probe_results_between(
        start=start - timedelta(hours=2), end=now + timedelta(seconds=1)
    ).values_list("component_id", "checked_at", "state", "ok", "maintenance", "probe__interval_seconds")
    written = 0
    for (component_id, day), tally in sorted(rollup_day_figures(rows.iterator(), until=now).items()):
        if day < first_open or (component_id, day) in final:
            continue
        incident_services.component_uptime_record(
            component_id=component_id,
            day=day,
            observed_seconds=round(tally.observed),
            down_seconds=round(tally.down),
            checks=tally.checks,
            failed_checks=tally.failed,
        )
        written += 1
    cutoff = datetime.combine(oldest, time.min, tzinfo=UTC)
    pruned, _ = ProbeResult.objects.filter(checked_at__lt=cutoff).delete()
    forgotten = incident_services.component_uptime_prune(before=today - timedelta(days=settings.PROBE_UPTIME_KEEP_DAYS))
    return {"days_written": written, "results_pruned": pruned, "days_forgotten": forgotten}


# -- alert intake (Alertmanager, Grafana) --------------------------------------------------------------------
@dataclass
class IntakeSummary:
    created: list[str] = field(default_factory=list)
    repeated: int = 0
    refired: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    ignored: int = 0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self, received: int) -> dict:
        return {
            "received": received,
            "created": self.created,
            "repeated": self.repeated,
            "refired": self.refired,
            "resolved": self.resolved,
            "ignored": self.ignored,
            "warnings": self.warnings,
        }


def alerts_ingest(*, source: AlertSource, alerts: list[AlertIn]) -> IntakeSummary:
    """Firing → one incident per fingerprint; repeats add nothing; resolved → an internal note
    (and the incident resolves with `ALERT_AUTO_RESOLVE=True`). Each alert in its own transaction."""
    summary = IntakeSummary()
    for alert in alerts:
        try:
            _alert_ingest_one(source=source, alert=alert, summary=summary)
        except IntegrityError:
            # Another request created the same fingerprint a moment ago: that one is the incident.
            summary.repeated += 1
    return summary


def _alert_ingest_one(*, source: AlertSource, alert: AlertIn, summary: IntakeSummary) -> None:
    now = timezone.now()
    author = str(source)
    with transaction.atomic():
        record = (
            AlertRecord.objects.select_for_update()
            .select_related("incident")
            .filter(source=source, fingerprint=alert.fingerprint)
            .first()
        )
        if alert.status == AlertState.FIRING:
            if record is None:
                incident = _alert_incident_create(source=source, alert=alert, summary=summary, now=now)
                AlertRecord.objects.create(
                    source=source,
                    fingerprint=alert.fingerprint,
                    incident=incident,
                    alertname=alert.labels.get("alertname", "")[:200],
                    first_seen_at=now,
                    last_seen_at=now,
                )
                summary.created.append(incident.key)
                return
            record.last_seen_at = now
            if record.state == AlertState.FIRING:
                record.repeats += 1
                record.save(update_fields=["last_seen_at", "repeats"])
                summary.repeated += 1
                return
            record.state = AlertState.FIRING
            record.save(update_fields=["last_seen_at", "state"])
            incident = record.incident
            message = f"Alert {alert.labels.get('alertname') or alert.title} is firing again ({source})."
            reopen = Status.INVESTIGATING if incident.status == Status.RESOLVED else None
            _alert_event(incident=incident, author=author, message=message, status=reopen)
            summary.refired.append(incident.key)
            return
        # resolved
        if record is None:
            summary.ignored += 1
            return
        record.last_seen_at = now
        if record.state == AlertState.RESOLVED:
            record.save(update_fields=["last_seen_at"])
            summary.repeated += 1
            return
        record.state = AlertState.RESOLVED
        record.save(update_fields=["last_seen_at", "state"])
        incident = record.incident
        when = (alert.ends_at or now).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        message = f"Alert {alert.labels.get('alertname') or alert.title} resolved at {when} ({source})."
        resolve = Status.RESOLVED if settings.ALERT_AUTO_RESOLVE and incident.status in OPEN_STATUSES else None
        _alert_event(incident=incident, author=author, message=message, status=resolve)
        summary.resolved.append(incident.key)


def _alert_event(*, incident, author: str, message: str, status: Status | None) -> None:
    """An alert's news on its incident: an internal timeline row, moving the status when `status` is given."""
    if status is None:
        incident_services.incident_add_note(
            incident_id=incident.pk, author=author, source=Source.ALERT, message=message
        )
    else:
        incident_services.incident_update(
            incident_id=incident.pk,
            author=author,
            source=Source.ALERT,
            status=status,
            message=message,
            message_visibility=Visibility.INTERNAL,
        )


def _alert_incident_create(*, source: AlertSource, alert: AlertIn, summary: IntakeSummary, now: datetime):
    severity = severity_map(settings.ALERT_SEVERITY_MAP).get(alert.labels.get("severity", "").lower(), Severity.SEV3)
    components = []
    slug = alert.component_slug
    if slug:
        component = Component.objects.filter(slug=slug).first()
        if component is None:
            summary.warnings.append(f"{alert.fingerprint}: no component with slug “{slug[:60]}”; created without one")
        else:
            components = [component.pk]
    visibility = Visibility.PUBLIC if settings.ALERT_INCIDENT_VISIBILITY == "public" else Visibility.INTERNAL
    reported_at = min(alert.starts_at, now) if alert.starts_at else now
    return incident_services.incident_create(
        title=alert.title,
        description=alert.description,
        author=str(source),
        source=Source.ALERT,
        severity=severity,
        visibility=visibility,
        reported_at=reported_at,
        components=components,
        record={"alert": f"{source}:{alert.fingerprint}"},
    )
