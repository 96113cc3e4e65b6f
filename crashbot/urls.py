from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("slack/", include("slackbridge.urls")),
    path("api/alerts/", include("monitoring.urls")),
    path("", include("incidents.urls")),
]
