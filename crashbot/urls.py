from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("slack/", include("slackbridge.urls")),
    path("", include("incidents.urls")),
]

# Branded public error pages; JSON on the public API (incidents.views).
handler404 = "incidents.views.not_found"
handler500 = "incidents.views.server_error"
