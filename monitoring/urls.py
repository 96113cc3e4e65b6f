from django.urls import path

from monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("alertmanager", views.alertmanager, name="alertmanager"),
    path("grafana", views.grafana, name="grafana"),
]
