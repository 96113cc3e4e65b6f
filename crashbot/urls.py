from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("slack/", include("slackbridge.urls")),
    path("", include("subscriptions.urls")),
    path("", include("incidents.urls")),
]
