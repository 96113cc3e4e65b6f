from datetime import UTC, datetime, time, timedelta
from functools import lru_cache

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from incidents import selectors
from incidents import status as rules
from incidents.models import SEVERITY_IMPACT, Incident


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers from a real table and every migration is applied, 503 otherwise.

    `SELECT 1` said 200 after the SQLite file was deleted while every page answered 500: this
    reads the incidents table and the migration records (for load balancers and orchestrators).
    """
    try:
        Incident.objects.order_by().values_list("pk").first()
        applied = MigrationRecorder(connection).applied_migrations()
    except DatabaseError:
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    missing = sorted(f"{app}.{name}" for app, name in _expected_migrations() if (app, name) not in applied)
    if missing:
        return JsonResponse({"status": "error", "database": "not migrated", "missing": missing[:20]}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@lru_cache(maxsize=1)
def _expected_migrations() -> frozenset[tuple[str, str]]:
    """Every migration on disk (read once per process: the code does not change while it runs)."""
    return frozenset(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


STATUS_HISTORY_PAGE = 50
MAX_HISTORY_PAGE = 10_000  # keeps the SQL OFFSET a sane integer whatever `?page=` says
PAST_DAYS = 7
PAST_INCIDENTS_LIMIT = 100


def _page_context(request: HttpRequest, **context) -> dict:
    """What every status page needs: name, refresh period, zone of the times shown, current nav entry.

    Never its ETag: a page's bytes depend on public data only.
    """
    return {
        "page_name": settings.STATUS_PAGE_NAME,
        "refresh_seconds": settings.STATUS_PAGE_REFRESH_SECONDS,
        "time_zone": settings.TIME_ZONE,
        "nav": request.resolver_match.url_name if request.resolver_match else "",
        **context,
    }


@require_safe
def status_index(request: HttpRequest) -> HttpResponse:
    """`/`: banner, open incidents, components by group with their 90-day strip and uptime, past incidents.

    A fixed number of queries: components with derived status (1), open incidents with
    components and public updates (3), the last 7 days' incidents (2), uptime rows (1).
    """
    now = timezone.now()
    components = selectors.components_with_status()
    unresolved, maintenances_active, maintenances_upcoming = selectors.public_current()
    indicator = rules.indicator_for(
        impacts=[i.impact for i in unresolved] + [m.impact for m in maintenances_active],
        component_statuses=[c.derived_status for c in components],
    )
    strips = selectors.uptime_strips(now=now)
    groups: list[dict] = []
    by_name: dict[str, dict] = {}
    for component in components:
        component.uptime = strips.get(component.pk) or rules.empty_strip(now=now)
        if component.detected_by_monitoring:  # today's bar shows what the probe sees now
            component.uptime[-1].status = component.derived_status
        component.uptime_percent = rules.uptime_percent(component.uptime, now=now)
        component.uptime_percent_phone = rules.uptime_percent(component.uptime, now=now, days=rules.UPTIME_DAYS_PHONE)
        key = component.group or ""
        if key not in by_name:
            by_name[key] = {"name": component.group, "components": []}
            groups.append(by_name[key])
        by_name[key]["components"].append(component)
    for group in groups:
        group["status"] = rules.worst_component_status([c.derived_status for c in group["components"]])
    context = _page_context(
        request,
        indicator=indicator,
        indicator_description=rules.INDICATOR_DESCRIPTION[indicator],
        groups=groups,
        unresolved=unresolved,
        maintenances_active=maintenances_active,
        maintenances_upcoming=maintenances_upcoming,
        past_days=_past_days(now),
        uptime_days=rules.UPTIME_DAYS,
        uptime_days_phone=rules.UPTIME_DAYS_PHONE,
    )
    return render(request, "status/index.html", context)


def _past_days(now) -> list[dict]:
    """Statuspage's "Past incidents": the last 7 UTC days, today first, each with the incidents reported then."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=PAST_DAYS - 1)
    incidents = selectors.incidents_public_reported_since(
        since=datetime.combine(first, time.min, tzinfo=UTC), limit=PAST_INCIDENTS_LIMIT
    )
    days = [{"day": today - timedelta(days=n), "incidents": []} for n in range(PAST_DAYS)]
    for incident in incidents:
        index = (today - incident.reported_at.astimezone(UTC).date()).days
        if 0 <= index < PAST_DAYS:
            days[index]["incidents"].append(incident)
    return days


@require_safe
def api_docs(request: HttpRequest) -> HttpResponse:
    """`/api/docs/`: Redoc over `/api/schema/`, served from our own static files (no CDN)."""
    return render(request, "status/api_docs.html", {"page_name": settings.STATUS_PAGE_NAME})


def _overall(components: list) -> dict:
    """The page indicator for the header's status dot (one query besides the components)."""
    impacts = [
        SEVERITY_IMPACT[s] for s in selectors.incidents_open(include_internal=False).values_list("severity", flat=True)
    ]
    indicator = rules.indicator_for(impacts=impacts, component_statuses=[c.derived_status for c in components])
    return {"indicator": indicator, "indicator_description": rules.INDICATOR_DESCRIPTION[indicator]}


def history_page(request: HttpRequest) -> int:
    """`?page=N` as the history reads it: 1 for anything that is not a number, clamped to a sane range."""
    try:
        return min(max(1, int(request.GET.get("page", "1"))), MAX_HISTORY_PAGE)
    except ValueError:
        return 1


def history_query(request: HttpRequest) -> str:
    """The only query the history reads, normalised (the public cache's key; incidents.urls)."""
    return f"page={history_page(request)}"


@require_safe
def history(request: HttpRequest) -> HttpResponse:
    """`/history`: public incidents newest first, grouped by month, 50 per page (`?page=N`)."""
    page = history_page(request)
    rows = selectors.incidents_public_page(offset=(page - 1) * STATUS_HISTORY_PAGE, limit=STATUS_HISTORY_PAGE)
    incidents = rows[:STATUS_HISTORY_PAGE]
    context = _page_context(
        request,
        **_overall(selectors.components_with_status()),
        incidents=incidents,
        page=page,
        has_next=len(rows) > STATUS_HISTORY_PAGE,
    )
    return render(request, "status/history.html", context)


@require_safe
def incident_detail(request: HttpRequest, key: str) -> HttpResponse:
    """`/incidents/DCL-N`: the full public timeline, durations and RCA link (never people's names).

    Internal and unknown incidents get the same branded 404; an `invalid` one that was public a
    410 "withdrawn"; another spelling of a key (`/incidents/12`, `dcl-12`) a 301 to `DCL-N`.
    """
    incident_id = selectors.parse_incident_key(key) if key.isascii() and key.strip() == key else None
    if incident_id is None:
        return not_found(request)
    canonical = f"{settings.INCIDENT_PREFIX}-{incident_id}"
    if key != canonical:
        return HttpResponsePermanentRedirect(reverse("incidents:detail", kwargs={"key": canonical}))
    incident = selectors.incident_get_public(key=key)
    if incident is None:
        if selectors.incident_was_withdrawn(incident_id=incident_id):
            return _error_page(
                request,
                status=410,
                title="This report was withdrawn",
                message=f"{canonical} was published here by mistake and has been withdrawn; it was not an incident.",
            )
        return not_found(request)
    every = selectors.components_with_status()
    components = {c.pk: c for c in every}
    context = _page_context(
        request,
        **_overall(every),
        incident=incident,
        timeline=selectors.public_timeline(incident),
        affected=[components[c.pk] for c in incident.components.all() if c.pk in components],
    )
    return render(request, "status/incident.html", context)


def _error_page(request: HttpRequest, *, status: int, title: str, message: str) -> HttpResponse:
    if request.path.startswith(("/api/", "/list")):
        return JsonResponse({"error": title, "status": status}, status=status)
    context = _page_context(request, title=title, message=message)
    return render(request, "status/error.html", context, status=status)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The branded 404 (also Django's `handler404`): the same body for internal and unknown incidents."""
    return _error_page(
        request,
        status=404,
        title="Page not found",
        message="There is nothing public at this address. It may never have existed, or it is not public.",
    )


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's `handler500`: JSON on the API, the branded page elsewhere (no database needed)."""
    if request.path.startswith(("/api/", "/list")):
        return JsonResponse({"error": "Server error", "status": 500}, status=500)
    context = {
        "page_name": settings.STATUS_PAGE_NAME,
        "title": "Something went wrong",
        "message": "The status page could not be shown. Please try again in a minute.",
    }
    return HttpResponse(render_to_string("status/error.html", context), status=500)
