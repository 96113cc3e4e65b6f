"""Public URLs: the legacy list, the Statuspage v2 API, the status page and its feeds.

Every public GET is wrapped in `public_cache` here (ETag from the version stamp,
Cache-Control, 304 before the view runs), so views stay unaware of HTTP caching.
"""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from incidents import feeds, views
from incidents.api import v2
from incidents.api.views import LegacyListView, api_key_guard
from incidents.caching import public_cache

app_name = "incidents"

urlpatterns = [
    path("list", public_cache(LegacyListView.as_view(), guard=api_key_guard), name="legacy-list"),
    path("healthz", views.healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", views.api_docs, name="api-docs"),
    path("api/v2/summary.json", public_cache(v2.SummaryView.as_view()), name="v2-summary"),
    path("api/v2/status.json", public_cache(v2.StatusView.as_view()), name="v2-status"),
    path("api/v2/components.json", public_cache(v2.ComponentsView.as_view()), name="v2-components"),
    path("api/v2/incidents.json", public_cache(v2.IncidentsView.as_view()), name="v2-incidents"),
    path(
        "api/v2/incidents/unresolved.json",
        public_cache(v2.UnresolvedIncidentsView.as_view()),
        name="v2-incidents-unresolved",
    ),
    path(
        "api/v2/scheduled-maintenances.json",
        public_cache(v2.ScheduledMaintenancesView.as_view()),
        name="v2-scheduled-maintenances",
    ),
    path(
        "api/v2/scheduled-maintenances/upcoming.json",
        public_cache(v2.UpcomingMaintenancesView.as_view()),
        name="v2-scheduled-maintenances-upcoming",
    ),
    path(
        "api/v2/scheduled-maintenances/active.json",
        public_cache(v2.ActiveMaintenancesView.as_view()),
        name="v2-scheduled-maintenances-active",
    ),
    path("", public_cache(views.status_index), name="status"),
    path("history", public_cache(views.history, query=views.history_query), name="history"),
    path("history.atom", public_cache(feeds.HistoryAtomFeed()), name="history-atom"),
    path("history.rss", public_cache(feeds.HistoryRssFeed()), name="history-rss"),
    path("incidents/<str:key>", public_cache(views.incident_detail), name="detail"),
]
