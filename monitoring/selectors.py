"""Reads shared by the worker, admin and tests."""

from datetime import datetime

from django.db.models import QuerySet

from monitoring.models import Probe, ProbeResult, ProbeState


def probes_due(*, now: datetime) -> QuerySet[Probe]:
    """Enabled probes whose next run is due, the longest-waiting first."""
    return Probe.objects.filter(enabled=True, next_due_at__lte=now).select_related("component").order_by("next_due_at")


def probe_results_between(*, start: datetime, end: datetime) -> QuerySet[ProbeResult]:
    """Raw results in [start, end), per component in time order (what the roll-up reads)."""
    return ProbeResult.objects.filter(checked_at__gte=start, checked_at__lt=end).order_by("component_id", "checked_at")


def recent_results(*, probe_id: int, limit: int = 20) -> list[ProbeResult]:
    return list(ProbeResult.objects.filter(probe_id=probe_id).order_by("-checked_at")[:limit])


def probe_up_by_component() -> dict[str, int]:
    """Component slug → 1 while its enabled probe is up (slow counts as up), 0 while down (for /metrics)."""
    rows = Probe.objects.filter(enabled=True).values_list("component__slug", "state")
    return {slug: 0 if state == ProbeState.DOWN else 1 for slug, state in rows}
