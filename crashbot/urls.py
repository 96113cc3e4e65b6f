from django.contrib import admin
from django.urls import include, path

from crashbot.observability import metrics_view

urlpatterns = [
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("slack/", include("slackbridge.urls")),
    path("api/alerts/", include("monitoring.urls")),
    path("", include("subscriptions.urls")),
    path("", include("incidents.urls")),
]
