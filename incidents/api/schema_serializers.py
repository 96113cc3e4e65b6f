"""Serializers that describe the public JSON for the OpenAPI schema (drf-spectacular).

The responses themselves are built by `incidents.api.statuspage`; these classes only
document them. The schemathesis test checks real responses against the schema, so the
two cannot drift apart unnoticed. (`/list` is documented and produced by one serializer,
`incidents.api.serializers`.)
"""

from rest_framework import serializers

from incidents.api import statuspage


class PageSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    url = serializers.URLField()
    time_zone = serializers.CharField()
    updated_at = serializers.DateTimeField()


class StatusSerializer(serializers.Serializer):
    indicator = serializers.ChoiceField(choices=statuspage.INDICATORS)
    description = serializers.CharField()


class ComponentSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=statuspage.COMPONENT_STATUSES)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    position = serializers.IntegerField()
    description = serializers.CharField(allow_null=True)
    showcase = serializers.BooleanField()
    start_date = serializers.DateField(allow_null=True)
    group_id = serializers.CharField(allow_null=True)
    page_id = serializers.CharField()
    group = serializers.BooleanField()
    only_show_if_degraded = serializers.BooleanField()
    components = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Member component ids; only on groups."
    )
    uptime_percent = serializers.FloatField(
        required=False, help_text="Crashbot extra: 90-day uptime % (probes where they exist, else incident impact)."
    )
    detected_by_monitoring = serializers.BooleanField(
        required=False, help_text="Crashbot extra: the status shown was detected by a monitoring probe."
    )


class IncidentUpdateSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.ChoiceField(choices=statuspage.INCIDENT_STATUSES)
    body = serializers.CharField()
    incident_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    display_at = serializers.DateTimeField()
    affected_components = serializers.ListField(child=serializers.DictField(), allow_null=True)
    deliver_notifications = serializers.BooleanField()
    custom_tweet = serializers.CharField(allow_null=True)
    tweet_id = serializers.CharField(allow_null=True)


class IncidentSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=statuspage.INCIDENT_STATUSES)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    monitoring_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    impact = serializers.ChoiceField(choices=statuspage.INCIDENT_IMPACTS)
    shortlink = serializers.URLField()
    started_at = serializers.DateTimeField()
    page_id = serializers.CharField()
    incident_updates = IncidentUpdateSerializer(many=True)
    components = ComponentSerializer(many=True)


class ScheduledMaintenanceSerializer(IncidentSerializer):
    status = serializers.ChoiceField(choices=statuspage.MAINTENANCE_STATUSES)
    scheduled_for = serializers.DateTimeField()
    scheduled_until = serializers.DateTimeField()


class StatusResponseSerializer(serializers.Serializer):
    page = PageSerializer()
    status = StatusSerializer()


class ComponentsResponseSerializer(serializers.Serializer):
    page = PageSerializer()
    components = ComponentSerializer(many=True)


class IncidentsResponseSerializer(serializers.Serializer):
    page = PageSerializer()
    incidents = IncidentSerializer(many=True)


class ScheduledMaintenancesResponseSerializer(serializers.Serializer):
    page = PageSerializer()
    scheduled_maintenances = ScheduledMaintenanceSerializer(many=True)


class SummaryResponseSerializer(serializers.Serializer):
    page = PageSerializer()
    status = StatusSerializer()
    components = ComponentSerializer(many=True)
    incidents = IncidentSerializer(many=True)
    scheduled_maintenances = ScheduledMaintenanceSerializer(many=True)
