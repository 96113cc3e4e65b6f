"""Alert intake: `POST /api/alerts/alertmanager` and `POST /api/alerts/grafana` (SPEC §10).

Verify (bearer token, constant-time) → read (size limit) → parse (`monitoring.alerts`) →
ingest (`monitoring.services`). Every answer is JSON; nothing is stored for a refused request.
"""

import hmac
import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from monitoring import alerts, services
from monitoring.models import AlertSource

logger = logging.getLogger(__name__)


def _error(status: int, message: str, **headers) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _authorized(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _intake(request: HttpRequest, source: AlertSource) -> JsonResponse:
    token = settings.ALERT_INTAKE_TOKEN
    if request.method != "POST":
        return _error(405, "Use POST.", Allow="POST")
    if not token:
        return _error(404, "Alert intake is off (ALERT_INTAKE_TOKEN is not set).")
    if not _authorized(request, token):
        return _error(401, "Missing or wrong bearer token.", WWW_Authenticate='Bearer realm="alerts"')
    limit = settings.ALERT_MAX_BODY_BYTES
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return _error(400, "Bad Content-Length.")
    if declared > limit:
        return _error(413, f"The body is larger than {limit} bytes.")
    body = request.read(limit + 1)
    if len(body) > limit:
        return _error(413, f"The body is larger than {limit} bytes.")
    try:
        parsed = alerts.parse(body, source=source)
    except alerts.PayloadError as exc:
        return _error(400, str(exc))
    try:
        summary = services.alerts_ingest(source=source, alerts=parsed)
    except DatabaseError:
        logger.exception("Alert intake from %s: the database failed", source)
        return _error(503, "The database is unavailable; the sender will retry.", Retry_After="30")
    return JsonResponse(summary.as_dict(received=len(parsed)))


@csrf_exempt
def alertmanager(request: HttpRequest) -> JsonResponse:
    return _intake(request, AlertSource.ALERTMANAGER)


@csrf_exempt
def grafana(request: HttpRequest) -> JsonResponse:
    return _intake(request, AlertSource.GRAFANA)
