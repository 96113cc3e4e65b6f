from django.contrib import admin
from django.urls import include, path

from crashbot.observability import metrics_view

urlpatterns = [
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("oidc/", include("slackbridge.oidc_urls")),
    path("slack/", include("slackbridge.urls")),
    path("api/alerts/", include("monitoring.urls")),
    path("", include("subscriptions.urls")),
    path("", include("incidents.urls")),
]

# Branded public error pages; JSON on the public API (incidents.views).
handler404 = "incidents.views.not_found"
handler500 = "incidents.views.server_error"
