"""What operators watch (SPEC §11): Prometheus `GET /metrics` and one-JSON-object-per-line logs.

Two kinds of figures, so that the answer is right with any number of gunicorn workers and nodes:
- counters of requests and Slack errors (`crashbot_http_*`, `crashbot_slack_api_errors_total`) live in
  prometheus-client's multiprocess mode when `PROMETHEUS_MULTIPROC_DIR` is set: every process (gunicorn
  workers, `db_worker`s) that shares the directory writes its own file there, named by host name and pid
  so containers sharing a volume never collide, and a scrape adds them all up (docs/SCALING.md); without
  it, this process only (runserver, tests);
- gauges read from the database at scrape time (open incidents, tasks, Slack sync lag, pending
  notifications, probe state): the same answer from every worker and every node.

Apps beyond `incidents` (slackbridge, subscriptions, monitoring) are read through `apps.get_model`
only when installed, so this module depends on none of them.
"""

import contextvars
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import lru_cache

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldError
from django.core.signals import request_finished
from django.db.models import Count, Exists, Min, OuterRef, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import values as prometheus_values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from pythonjsonlogger.json import JsonFormatter

logger = logging.getLogger(__name__)


def _process_identifier() -> str:
    """Host name + pid: unique even when containers with their own pid numbering share one directory."""
    return f"{socket.gethostname()}-{os.getpid()}"


if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Before any labelled child exists: each one takes this class when `.labels()` first creates it.
    prometheus_values.ValueClass = prometheus_values.MultiProcessValue(process_identifier=_process_identifier)

HTTP_REQUESTS = Counter(
    "crashbot_http_requests", "HTTP requests answered, by URL pattern name and status code.", ["route", "status"]
)
HTTP_DURATION = Histogram(
    "crashbot_http_request_duration_seconds",
    "Time to answer an HTTP request, by URL pattern name.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SLACK_API_ERRORS = Counter(
    "crashbot_slack_api_errors", "Failed Slack Web API calls (each attempt), by method and error.", ["method", "error"]
)
PUBLIC_RENDERS = Counter(
    "crashbot_public_renders",
    "Public bodies rendered by their view (a miss of every body cache), by URL pattern name.",
    ["route"],
)
# Only pending Slack work changed this recently counts toward the sync lag (keeps the scrape bounded).
SLACK_LAG_WINDOW = timedelta(days=7)
UNMATCHED_ROUTE = "unmatched"

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("crashbot_request_id", default=None)
_incident_key: contextvars.ContextVar[str | None] = contextvars.ContextVar("crashbot_incident_key", default=None)
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._-]{8,128}$")


def count_slack_error(*, method: str, error: str) -> None:
    """Called by slackbridge.client for every failed Web API attempt."""
    SLACK_API_ERRORS.labels(method=method, error=error or "unknown").inc()


def count_public_render(request: HttpRequest) -> None:
    """Called by incidents.caching each time a public view renders a body instead of reusing a cached one."""
    PUBLIC_RENDERS.labels(route=route_of(request)).inc()


# --- Requests: id, route, count, latency ------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _route(urlconf: str, path: str) -> str:
    if path.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return "static"
    try:
        match = resolve(path, urlconf)
    except Resolver404:
        return UNMATCHED_ROUTE
    return match.view_name or UNMATCHED_ROUTE


def route_of(request: HttpRequest) -> str:
    """The URL pattern's name (`incidents:detail`), never the raw path (bounded label values)."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or UNMATCHED_ROUTE
    return _route(getattr(request, "urlconf", None) or settings.ROOT_URLCONF, request.path_info)


@lru_cache(maxsize=2048)
def _children(route: str, status: int):
    """The labelled counter and histogram of a (route, status): `.labels()` costs more than the increment."""
    return HTTP_REQUESTS.labels(route=route, status=str(status)), HTTP_DURATION.labels(route=route)


class RequestObservabilityMiddleware:
    """First in MIDDLEWARE: gives each request an id (logs, `X-Request-ID`) and counts and times it.

    An incoming `X-Request-ID` from the proxy is kept when it looks like an id, so one request
    can be followed from the load balancer to the log line.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_OK.match(incoming) else os.urandom(16).hex()
        # Kept until `request_finished` (not reset here): Django logs 4xx/5xx after the middleware returns.
        _request_id.set(request_id)
        _incident_key.set(None)
        start = time.perf_counter()
        response = self.get_response(request)
        counter, histogram = _children(route_of(request), response.status_code)
        counter.inc()
        histogram.observe(time.perf_counter() - start)
        response["X-Request-ID"] = request_id
        return response

    def process_view(self, request, view_func, view_args, view_kwargs) -> None:
        if "key" in view_kwargs:
            _incident_key.set(str(view_kwargs["key"]))


def _forget_request(**kwargs) -> None:
    _request_id.set(None)
    _incident_key.set(None)


request_finished.connect(_forget_request, dispatch_uid="crashbot.observability.forget_request")


# --- Database gauges, computed at scrape time -------------------------------------------------------------------


class DatabaseCollector:
    """Gauges read from the database on every scrape; no `describe`, so registering runs no query."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield self.incidents_open()
        yield self.tasks()
        yield self.slack_sync_lag()
        yield self.notifications_pending()
        yield self.component_probe_up()

    @staticmethod
    def incidents_open() -> GaugeMetricFamily:
        # Model imports inside: LOGGING loads this module before the apps are ready.
        from incidents.models import OPEN_STATUSES, Incident, Severity

        family = GaugeMetricFamily(
            "crashbot_incidents_open", "Open incidents (public and internal) by severity.", labels=["severity"]
        )
        counts = dict(
            Incident.objects.filter(status__in=OPEN_STATUSES).values_list("severity").annotate(n=Count("id")).order_by()
        )
        for severity in Severity.values:
            family.add_metric([severity], counts.get(severity, 0))
        return family

    @staticmethod
    def tasks() -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "crashbot_tasks", "Background task rows by state (ready = waiting for a worker).", labels=["state"]
        )
        if apps.is_installed("django_tasks_db"):
            from django_tasks import TaskResultStatus

            model = apps.get_model("django_tasks_database", "DBTaskResult")
            counts = dict(model.objects.values_list("status").annotate(n=Count("id")).order_by())
            for status in TaskResultStatus:
                family.add_metric([status.value.lower()], counts.get(status.value, 0))
        return family

    @staticmethod
    def slack_sync_lag() -> GaugeMetricFamily:
        """Age of the oldest change Slack does not show yet: a headline not posted, or a timeline message
        not in its thread (0 when Slack is in line or not configured)."""
        from incidents.models import OPEN_STATUSES, Incident, IncidentUpdate

        family = GaugeMetricFamily(
            "crashbot_slack_sync_lag_seconds", "Age of the oldest incident change not yet shown in Slack."
        )
        if not (apps.is_installed("slackbridge") and settings.SLACK_BOT_TOKEN and settings.SLACK_INCIDENTS_CHANNEL):
            family.add_metric([], 0)
            return family
        message = apps.get_model("slackbridge", "SlackMessage")
        now = timezone.now()
        recent = Q(modified_at__gte=now - SLACK_LAG_WINDOW)
        posted_headline = message.objects.filter(incident=OuterRef("pk"), kind="headline").exclude(ts="")
        unposted_open = (
            Incident.objects.filter(recent, status__in=OPEN_STATUSES)
            .exclude(Exists(posted_headline))
            .aggregate(oldest=Min("created_at"))["oldest"]
        )
        posted_reply = message.objects.filter(
            incident=OuterRef("incident"), kind="reply", entry_number=OuterRef("number")
        ).exclude(ts="")
        in_slack = message.objects.filter(kind="headline").exclude(ts="").values("incident")
        unposted_reply = (
            IncidentUpdate.objects.filter(incident__in=Incident.objects.filter(recent, pk__in=in_slack))
            .exclude(message="")
            .exclude(Exists(posted_reply))
            .aggregate(oldest=Min("created_at"))["oldest"]
        )
        oldest = min((t for t in (unposted_open, unposted_reply) if t is not None), default=None)
        family.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0)
        return family

    @staticmethod
    def notifications_pending() -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "crashbot_notifications_pending", "Subscriber notifications waiting to be sent (0 without subscriptions)."
        )
        family.add_metric([], _count_if_installed("subscriptions", "Delivery", state="pending"))
        return family

    @staticmethod
    def component_probe_up() -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "crashbot_component_probe_up",
            "1 while a component's probe sees it answering (up or slow), 0 while down; only components with a probe.",
            labels=["component"],
        )
        if apps.is_installed("monitoring"):
            try:
                probes = apps.get_model("monitoring", "Probe").objects.filter(enabled=True)
                rows = list(probes.values_list("component__slug", "state"))
            except (LookupError, FieldError) as exc:
                logger.warning("crashbot_component_probe_up: monitoring's Probe is not as expected (%s)", exc)
                rows = []
            for slug, state in rows:
                family.add_metric([slug], 0 if state == "down" else 1)
        return family


def _count_if_installed(app_label: str, model_name: str, **filters) -> int:
    if not apps.is_installed(app_label):
        return 0
    try:
        return apps.get_model(app_label, model_name).objects.filter(**filters).count()
    except (LookupError, FieldError) as exc:
        logger.warning("metrics: %s.%s is not as expected (%s)", app_label, model_name, exc)
        return 0


_DATABASE_REGISTRY = CollectorRegistry(auto_describe=False)
_DATABASE_REGISTRY.register(DatabaseCollector())


def exposition() -> bytes:
    """The text every scrape gets: this machine's counters (all workers in multiprocess mode), then the gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counters = CollectorRegistry()
        MultiProcessCollector(counters)
    else:
        counters = REGISTRY
    return generate_latest(counters) + generate_latest(_DATABASE_REGISTRY)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """`GET /metrics`: 404 unless METRICS_TOKEN is set; then `Authorization: Bearer <token>` (401/403)."""
    expected = settings.METRICS_TOKEN
    if not expected:
        raise Http404("Metrics are off (METRICS_TOKEN is not set).")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        response = HttpResponse("Bearer token required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not constant_time_compare(given.strip(), expected):
        return HttpResponse("Wrong token.\n", status=403, content_type="text/plain")
    response = HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


# --- Logs ---------------------------------------------------------------------------------------------------------


class ContextFilter(logging.Filter):
    """Adds `request_id` and `incident` (a key like DCL-12) to every record, where known.

    The incident comes from `extra={"incident": ...}`, the URL being served, or the first key
    named in the message (log lines about an incident start with its key).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(record, "request_id", None) or _request_id.get()
        incident = getattr(record, "incident", None) or _incident_key.get()
        if incident is None:
            match = _key_pattern().search(record.getMessage())
            incident = match.group(0) if match else None
        record.incident = incident
        return True


@lru_cache(maxsize=4)
def _key_pattern_for(prefix: str) -> re.Pattern:
    return re.compile(rf"\b{re.escape(prefix)}-\d+\b")


def _key_pattern() -> re.Pattern:
    return _key_pattern_for(getattr(settings, "INCIDENT_PREFIX", "DCL"))


class JsonLogFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, message, request_id, incident (+ exception, extras)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__("{asctime}{levelname}{name}{message}{request_id}{incident}", *args, style="{", **kwargs)
