from django.db import DatabaseError, connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from incidents import selectors


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


@require_safe
def incident_detail(request: HttpRequest, key: str) -> HttpResponse:
    incident = selectors.incident_get_public(key=key)
    if incident is None:
        raise Http404("No such public incident.")
    names = selectors.display_names([incident])
    return render(request, "incidents/detail.html", {"incident": incident, "names": names})
