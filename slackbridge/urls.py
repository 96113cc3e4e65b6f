from django.urls import path

from slackbridge import views

app_name = "slackbridge"

urlpatterns = [
    path("commands", views.commands, name="commands"),
    path("interactions", views.interactions, name="interactions"),
]
