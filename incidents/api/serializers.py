from datetime import datetime, tzinfo

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers

from incidents.models import OPEN_STATUSES, Incident, Status
from incidents.selectors import person_label


class LegacyIncidentSerializer(serializers.ModelSerializer):
    """One item of the first version's `GET /list` (LEGACY.md), plus SPEC §4's extra keys.

    Expects `context["names"]` (Slack id → display name) and `context["request"]`.
    It documents the shape (OpenAPI schema); `/list` itself is built by `legacy_item`,
    which gives the same output and is tested against this serializer.
    """

    status = serializers.SerializerMethodField()
    point = serializers.SerializerMethodField()
    contact = serializers.SerializerMethodField()
    rca_link = serializers.SerializerMethodField()
    key = serializers.CharField(read_only=True)
    state = serializers.CharField(source="status", read_only=True)
    url = serializers.SerializerMethodField()
    components = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = [
            "id",
            "update_number",
            "modified_at",
            "reported_at",
            "closed_at",
            "status",
            "severity",
            "title",
            "description",
            "point",
            "contact",
            "rca_link",
            "key",
            "state",
            "url",
            "components",
        ]

    def get_status(self, incident: Incident) -> str:
        return "open" if incident.status in OPEN_STATUSES else "closed" if incident.status == Status.RESOLVED else ""

    def get_point(self, incident: Incident) -> str:
        return person_label(slack_id=incident.point, free_text=incident.point_name, names=self.context["names"])

    def get_contact(self, incident: Incident) -> str:
        return person_label(slack_id=incident.contact, free_text=incident.contact_name, names=self.context["names"])

    def get_rca_link(self, incident: Incident) -> str | None:
        return incident.rca_link or None

    def get_url(self, incident: Incident) -> str:
        return self.context["request"].build_absolute_uri(incident.get_absolute_url())

    def get_components(self, incident: Incident) -> list[str]:
        return [c.name for c in incident.components.all()]


def _drf_datetime(value: datetime | None, tz: tzinfo) -> str | None:
    """As DRF's `DateTimeField` with `DATETIME_FORMAT = "iso-8601"`: current time zone, `Z` for UTC."""
    if value is None:
        return None
    text = value.astimezone(tz).isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def legacy_items(incidents: list[Incident], *, names: dict[str, str], request: HttpRequest) -> list[dict]:
    """`/list` items as plain dicts, equal to `LegacyIncidentSerializer`'s output.

    Why not the serializer: DRF's per-field machinery cost ~0.25 ms per item, ~130 ms for
    the 500-item payload (issue 7 profile). The time zone and the URL pattern are looked up
    once per list instead of once per item.
    """
    tz = timezone.get_current_timezone()
    placeholder = "__crashbot_key__"
    url_pattern = request.build_absolute_uri(reverse("incidents:detail", kwargs={"key": placeholder}))
    return [legacy_item(i, names=names, url=url_pattern.replace(placeholder, i.key), tz=tz) for i in incidents]


def legacy_item(incident: Incident, *, names: dict[str, str], url: str, tz: tzinfo) -> dict:
    status = incident.status
    return {
        "id": incident.pk,
        "update_number": incident.update_number,
        "modified_at": _drf_datetime(incident.modified_at, tz),
        "reported_at": _drf_datetime(incident.reported_at, tz),
        "closed_at": _drf_datetime(incident.closed_at, tz),
        "status": "open" if status in OPEN_STATUSES else "closed" if status == Status.RESOLVED else "",
        "severity": incident.severity,
        "title": incident.title,
        "description": incident.description,
        "point": person_label(slack_id=incident.point, free_text=incident.point_name, names=names),
        "contact": person_label(slack_id=incident.contact, free_text=incident.contact_name, names=names),
        "rca_link": incident.rca_link or None,
        "key": incident.key,
        "state": status,
        "url": url,
        "components": [c.name for c in incident.components.all()],
    }
