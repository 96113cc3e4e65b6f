from django.conf import settings
from django.db import DatabaseError, connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from incidents import selectors, uptime


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers, 503 otherwise (for load balancers and orchestrators)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


STATUS_HISTORY_PAGE = 50
MAX_HISTORY_PAGE = 10_000  # keeps the SQL OFFSET a sane integer whatever `?page=` says
RECENTLY_RESOLVED_DAYS = 7
RECENTLY_RESOLVED_LIMIT = 5


def _page_context(request: HttpRequest, **context) -> dict:
    """What every status page needs: name, refresh period, and its own ETag (for its refresh)."""
    return {
        "page_name": settings.STATUS_PAGE_NAME,
        "refresh_seconds": settings.STATUS_PAGE_REFRESH_SECONDS,
        "etag": getattr(request, "public_etag", ""),
        **context,
    }


@require_safe
def status_index(request: HttpRequest) -> HttpResponse:
    """`/`: overall banner, components by group with a 90-day strip, open and recently resolved incidents.

    A fixed number of queries: components with derived status (1), open incidents with
    components and public updates (3), recently resolved (1), names (≤1), uptime rows (1).
    """
    components = uptime.attach_uptime(selectors.components_with_status())
    unresolved, maintenances_active, maintenances_upcoming = selectors.public_current()
    resolved = list(
        selectors.incidents_recently_closed(days=RECENTLY_RESOLVED_DAYS, include_internal=False).prefetch_related(
            "components"
        )[:RECENTLY_RESOLVED_LIMIT]
    )
    indicator = selectors.indicator_for(
        impacts=[i.impact for i in unresolved] + [m.impact for m in maintenances_active],
        component_statuses=[c.derived_status for c in components],
    )
    strips = selectors.uptime_days()
    groups: list[dict] = []
    by_name: dict[str, dict] = {}
    for component in components:
        component.uptime = strips.get(component.pk) or selectors.empty_uptime()
        if component.detected_by_monitoring:  # today's bar shows what the probe sees now
            component.uptime[-1].status = component.derived_status
        component.days_with_incidents = sum(1 for d in component.uptime if d.incidents)
        key = component.group or ""
        if key not in by_name:
            by_name[key] = {"name": component.group, "components": []}
            groups.append(by_name[key])
        by_name[key]["components"].append(component)
    for group in groups:
        group["status"] = selectors.worst_component_status([c.derived_status for c in group["components"]])
    context = _page_context(
        request,
        indicator=indicator,
        indicator_description=selectors.INDICATOR_DESCRIPTION[indicator],
        groups=groups,
        unresolved=unresolved,
        resolved=resolved,
        maintenances_active=maintenances_active,
        maintenances_upcoming=maintenances_upcoming,
        names=selectors.display_names(unresolved),
        uptime_days=selectors.UPTIME_DAYS,
    )
    return render(request, "status/index.html", context)


@require_safe
def history(request: HttpRequest) -> HttpResponse:
    """`/history`: public incidents newest first, grouped by month, 50 per page (`?page=N`)."""
    try:
        page = min(max(1, int(request.GET.get("page", "1"))), MAX_HISTORY_PAGE)
    except ValueError:
        page = 1
    rows = selectors.incidents_public_page(offset=(page - 1) * STATUS_HISTORY_PAGE, limit=STATUS_HISTORY_PAGE)
    incidents = rows[:STATUS_HISTORY_PAGE]
    context = _page_context(
        request,
        incidents=incidents,
        page=page,
        has_next=len(rows) > STATUS_HISTORY_PAGE,
        names=selectors.display_names(incidents),
    )
    return render(request, "status/history.html", context)


@require_safe
def incident_detail(request: HttpRequest, key: str) -> HttpResponse:
    """`/incidents/DCL-N`: the full public timeline, durations, people and RCA link."""
    incident = selectors.incident_get_public(key=key)
    if incident is None:
        raise Http404("No such public incident.")
    components = {c.pk: c for c in selectors.components_with_status()}
    context = _page_context(
        request,
        incident=incident,
        names=selectors.display_names([incident]),
        timeline=selectors.public_timeline(incident),
        affected=[components[c.pk] for c in incident.components.all() if c.pk in components],
    )
    return render(request, "status/incident.html", context)
