from rest_framework import serializers

from incidents.models import OPEN_STATUSES, Incident, Status
from incidents.selectors import person_label


class LegacyIncidentSerializer(serializers.ModelSerializer):
    """One item of the first version's `GET /list` (LEGACY.md), plus SPEC §4's extra keys.

    Expects `context["names"]` (Slack id → display name) and `context["request"]`.
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
