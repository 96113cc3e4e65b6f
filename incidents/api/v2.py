"""Atlassian Statuspage v2-compatible read API (`/api/v2/*.json`), so existing widgets,
exporters and clients of Statuspage work unchanged against Crashbot.

Each view loads what it needs through the selectors (a fixed number of queries whatever
the history size) and builds the body with `incidents.api.statuspage`. Caching (ETag,
304, Cache-Control) is added in `incidents.urls` with `incidents.caching.public_cache`.
"""

from datetime import UTC, datetime, time

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents import selectors
from incidents.api import schema_serializers as docs
from incidents.api import statuspage

RECENT_INCIDENTS = 50
# What /api/schema/ and /api/docs/ tell outside readers about each operation.
OPERATION_DESCRIPTIONS = {
    "statuspage_summary": (
        "The page, its overall status, every component, the unresolved incidents and scheduled maintenances, "
        "in Atlassian Statuspage's v2 shape."
    ),
    "statuspage_status": (
        "The page and its overall status indicator (`none`, `minor`, `major`, `critical`, `maintenance`): the "
        "cheapest thing to poll."
    ),
    "statuspage_components": ("Every component with its current status; groups come first, followed by their members."),
    "statuspage_incidents": (
        "The 50 most recent public incidents, resolved ones included, newest first, each with its public updates."
    ),
    "statuspage_incidents_unresolved": (
        "Public incidents still investigating, identified or monitoring, most severe first."
    ),
    "statuspage_scheduled_maintenances": ("Scheduled maintenances in Statuspage's shape."),
    "statuspage_maintenances_upcoming": ("Upcoming scheduled maintenances in Statuspage's shape."),
    "statuspage_maintenances_active": ("Scheduled maintenances in progress, in Statuspage's shape."),
}
CACHING_NOTE = " Responses carry an ETag: send it back in If-None-Match to get a 304 while nothing changed."


def _describe(operation_id: str) -> str:
    return OPERATION_DESCRIPTIONS[operation_id] + CACHING_NOTE


class StatuspageView(APIView):
    """Common parts: the `page` object, absolute URLs, derived component statuses."""

    def base_url(self, request: Request) -> str:
        return settings.PUBLIC_BASE_URL or request.build_absolute_uri("/").rstrip("/")

    def page(self, request: Request) -> dict:
        updated_at = selectors.public_updated_at() or _start_of_today()
        return statuspage.page(base_url=self.base_url(request), updated_at=updated_at)

    def incidents(self, request: Request, incidents, components) -> list[dict]:
        status_by_id = {c.pk: c.derived_status for c in components}
        base = self.base_url(request)
        return [
            statuspage.incident(i, url=base + i.get_absolute_url(), component_status=status_by_id) for i in incidents
        ]

    def maintenances(self, request: Request, maintenances, components) -> list[dict]:
        status_by_id = {c.pk: c.derived_status for c in components}
        base = self.base_url(request)
        return [
            statuspage.scheduled_maintenance(m, url=base + m.get_absolute_url(), component_status=status_by_id)
            for m in maintenances
        ]


def _start_of_today() -> datetime:
    """Fallback `updated_at` of an empty page: stable for the day, like the ETag."""
    return datetime.combine(timezone.now().astimezone(UTC).date(), time.min, tzinfo=UTC)


class SummaryView(StatuspageView):
    """Page, overall status, components, unresolved incidents and scheduled maintenances."""

    @extend_schema(
        responses=docs.SummaryResponseSerializer,
        operation_id="statuspage_summary",
        description=_describe("statuspage_summary"),
    )
    def get(self, request: Request) -> Response:
        components = selectors.attach_uptime(selectors.components_with_status())
        # Statuspage's summary lists the maintenances in progress and the upcoming ones.
        unresolved, active, upcoming = selectors.public_current()
        maintenances = active + upcoming
        return Response(
            {
                "page": self.page(request),
                "components": statuspage.components(components),
                "incidents": self.incidents(request, unresolved, components),
                "scheduled_maintenances": self.maintenances(request, maintenances, components),
                "status": statuspage.status(
                    incidents=unresolved, components=components, maintenance_active=bool(active)
                ),
            }
        )


class StatusView(StatuspageView):
    """Only the page and its overall indicator: the cheapest thing a widget can poll."""

    @extend_schema(
        responses=docs.StatusResponseSerializer,
        operation_id="statuspage_status",
        description=_describe("statuspage_status"),
    )
    def get(self, request: Request) -> Response:
        components = selectors.components_with_status()
        unresolved = list(selectors.incidents_open(include_internal=False))
        maintenance_active = selectors.maintenances_active(include_internal=False).exists()
        return Response(
            {
                "page": self.page(request),
                "status": statuspage.status(
                    incidents=unresolved, components=components, maintenance_active=maintenance_active
                ),
            }
        )


class ComponentsView(StatuspageView):
    @extend_schema(
        responses=docs.ComponentsResponseSerializer,
        operation_id="statuspage_components",
        description=_describe("statuspage_components"),
    )
    def get(self, request: Request) -> Response:
        components = selectors.attach_uptime(selectors.components_with_status())
        return Response({"page": self.page(request), "components": statuspage.components(components)})


class IncidentsView(StatuspageView):
    """The 50 most recent public incidents, resolved ones included, newest first."""

    @extend_schema(
        responses=docs.IncidentsResponseSerializer,
        operation_id="statuspage_incidents",
        description=_describe("statuspage_incidents"),
    )
    def get(self, request: Request) -> Response:
        components = selectors.components_with_status()
        incidents = selectors.incidents_public_recent(limit=RECENT_INCIDENTS)
        return Response({"page": self.page(request), "incidents": self.incidents(request, incidents, components)})


class UnresolvedIncidentsView(StatuspageView):
    """Public incidents in investigating, identified or monitoring."""

    @extend_schema(
        responses=docs.IncidentsResponseSerializer,
        operation_id="statuspage_incidents_unresolved",
        description=_describe("statuspage_incidents_unresolved"),
    )
    def get(self, request: Request) -> Response:
        components = selectors.components_with_status()
        incidents = selectors.incidents_public_unresolved()
        return Response({"page": self.page(request), "incidents": self.incidents(request, incidents, components)})


class ScheduledMaintenancesView(StatuspageView):
    """The 50 latest public maintenances (upcoming, in progress, completed), latest window first.

    Cancelled maintenances are left out: Statuspage has no such status (SPEC §8).
    """

    def list_maintenances(self) -> list:
        return selectors.maintenances_public_recent()

    @extend_schema(
        responses=docs.ScheduledMaintenancesResponseSerializer,
        operation_id="statuspage_scheduled_maintenances",
        description=_describe("statuspage_scheduled_maintenances"),
    )
    def get(self, request: Request) -> Response:
        components = selectors.components_with_status()
        maintenances = self.maintenances(request, self.list_maintenances(), components)
        return Response({"page": self.page(request), "scheduled_maintenances": maintenances})


class UpcomingMaintenancesView(ScheduledMaintenancesView):
    """Maintenances still to start (`scheduled`), soonest first."""

    def list_maintenances(self) -> list:
        return selectors.maintenances_public_upcoming()

    @extend_schema(
        responses=docs.ScheduledMaintenancesResponseSerializer,
        operation_id="statuspage_maintenances_upcoming",
        description=_describe("statuspage_maintenances_upcoming"),
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class ActiveMaintenancesView(ScheduledMaintenancesView):
    """Maintenances in progress or being verified."""

    def list_maintenances(self) -> list:
        return selectors.maintenances_public_active()

    @extend_schema(
        responses=docs.ScheduledMaintenancesResponseSerializer,
        operation_id="statuspage_maintenances_active",
        description=_describe("statuspage_maintenances_active"),
    )
    def get(self, request: Request) -> Response:
        return super().get(request)
