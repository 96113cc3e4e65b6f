"""The `/list` serializers: one class per shape, documenting it (OpenAPI) and producing it.

`LegacyIncidentSerializer` declares its fields for drf-spectacular, and builds each item in
`to_representation` as one dict in LEGACY.md's key order (the legacy clients read these exact
bytes; `incidents/tests/test_list_bytes.py`). Per-field DRF machinery cost ~0.25 ms per item,
~130 ms for the 500-item payload (issue 7 profile), so the fields are declared, not run: what is
looked up once per list (time zone, URL pattern, display names) is computed by `list_context`
and read from the serializer context.
"""

from datetime import datetime, tzinfo

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers

from incidents import selectors
from incidents.models import OPEN_STATUSES, Incident, Severity, Status

_KEY_PLACEHOLDER = "__crashbot_key__"


def _drf_datetime(value: datetime | None, tz: tzinfo) -> str | None:
    """As DRF's `DateTimeField` with `DATETIME_FORMAT = "iso-8601"`: current time zone, `Z` for UTC."""
    if value is None:
        return None
    text = value.astimezone(tz).isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def list_context(*, request: HttpRequest, incidents: list[Incident]) -> dict:
    """What every item of one `/list` shares: display names, time zone, the item URL pattern.

    Links use `PUBLIC_BASE_URL` when set (as the v2 API and Slack replies do), else the host asked.
    """
    origin = settings.PUBLIC_BASE_URL or request.build_absolute_uri("/").rstrip("/")
    return {
        "request": request,
        "names": selectors.display_names(incidents),
        "tz": timezone.get_current_timezone(),
        "url_pattern": origin + reverse("incidents:detail", kwargs={"key": _KEY_PLACEHOLDER}),
    }


class LegacyIncidentSerializer(serializers.Serializer):
    """One `/list` item (LEGACY.md, in its key order) plus SPEC §4's `key`, `state`, `url`, `components`.

    Needs the context of `list_context`.
    """

    id = serializers.IntegerField()
    update_number = serializers.IntegerField(help_text="Public changes since creation (imports add to theirs).")
    modified_at = serializers.DateTimeField(help_text="Last public change.")
    reported_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    status = serializers.ChoiceField(choices=["open", "closed"])
    severity = serializers.ChoiceField(choices=Severity.values)
    title = serializers.CharField()
    description = serializers.CharField(allow_blank=True, help_text="Markdown.")
    point = serializers.CharField(help_text="Display name, or `Not assigned`.")
    contact = serializers.CharField(help_text="Display name, or `Not assigned`.")
    rca_link = serializers.URLField(allow_null=True)
    key = serializers.CharField()
    state = serializers.ChoiceField(choices=["investigating", "identified", "monitoring", "resolved"])
    url = serializers.URLField()
    components = serializers.ListField(child=serializers.CharField())

    def to_representation(self, incident: Incident) -> dict:
        context = self.context
        tz, names = context["tz"], context["names"]
        status = incident.status
        return {
            "id": incident.pk,
            "update_number": incident.public_update_number,
            "modified_at": _drf_datetime(incident.public_modified_at or incident.reported_at, tz),
            "reported_at": _drf_datetime(incident.reported_at, tz),
            "closed_at": _drf_datetime(incident.closed_at, tz),
            "status": "open" if status in OPEN_STATUSES else "closed" if status == Status.RESOLVED else "",
            "severity": incident.severity,
            "title": incident.title,
            "description": incident.description,
            "point": selectors.person_label(slack_id=incident.point, free_text=incident.point_name, names=names),
            "contact": selectors.person_label(slack_id=incident.contact, free_text=incident.contact_name, names=names),
            "rca_link": incident.rca_link or None,
            "key": incident.key,
            "state": status,
            "url": context["url_pattern"].replace(_KEY_PLACEHOLDER, incident.key),
            "components": [c.name for c in incident.components.all()],
        }


class LegacyListSerializer(serializers.Serializer):
    """The whole `/list` body: `{"open": [...], "closed": [...]}` (LEGACY.md orders, from the selector)."""

    open = LegacyIncidentSerializer(many=True)
    closed = LegacyIncidentSerializer(many=True)
