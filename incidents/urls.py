from django.urls import path

from incidents import views
from incidents.api.views import LegacyListView

app_name = "incidents"

urlpatterns = [
    path("list", LegacyListView.as_view(), name="legacy-list"),
    path("healthz", views.healthz, name="healthz"),
    path("incidents/<str:key>", views.incident_detail, name="detail"),
]
