"""Staff side of monitoring: probes (validated, saved through the services), results and alerts (read-only)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils import timezone

from incidents import selectors
from monitoring import services
from monitoring.models import AlertRecord, Probe, ProbeResult


class ProbeForm(forms.ModelForm):
    url = forms.URLField(label="URL", max_length=500, assume_scheme="https", help_text="http:// or https:// address.")

    class Meta:
        model = Probe
        fields = (
            "component",
            "url",
            "method",
            "expected_status_min",
            "expected_status_max",
            "body_contains",
            "timeout_seconds",
            "interval_seconds",
            "threshold",
            "slow_ms",
            "enabled",
        )

    def _post_clean(self):
        super()._post_clean()
        try:
            services.probe_validate(self.instance)
        except ValidationError as exc:
            self._update_errors(exc)


@admin.register(Probe)
class ProbeAdmin(admin.ModelAdmin):
    form = ProbeForm
    list_display = ("component", "url", "method", "enabled", "state", "last_checked_at", "last_error", "uptime_90d")
    list_filter = ("enabled", "state", "method")
    search_fields = ("component__name", "component__slug", "url")
    readonly_fields = ("state", "state_since", "last_checked_at", "last_error", "next_due_at", "auto_incident")
    fieldsets = (
        (None, {"fields": ("component", "url", "method", "enabled")}),
        (
            "What counts as up",
            {"fields": ("expected_status_min", "expected_status_max", "body_contains", "timeout_seconds", "slow_ms")},
        ),
        ("Schedule", {"fields": ("interval_seconds", "threshold")}),
        ("Now", {"fields": ("state", "state_since", "last_checked_at", "last_error", "next_due_at", "auto_incident")}),
    )

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        figures = selectors.uptime_percentages(now=timezone.now())
        for probe in changelist.result_list:
            probe.uptime_percent = figures.get(probe.component_id, 100.0)
        return changelist

    @admin.display(description="uptime (90 d)")
    def uptime_90d(self, probe: Probe) -> str:
        value = getattr(probe, "uptime_percent", None)
        return "" if value is None else f"{value:.2f} %"

    def save_model(self, request, obj, form, change):
        services.probe_save(probe=obj)

    def delete_model(self, request, obj):
        services.probe_delete(probe_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for probe_id in list(queryset.values_list("pk", flat=True)):
            services.probe_delete(probe_id=probe_id)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ProbeResult)
class ProbeResultAdmin(ReadOnlyAdmin):
    list_display = ("checked_at", "component", "ok", "status_code", "latency_ms", "state", "error")
    list_filter = ("ok", "state", "component")
    date_hierarchy = "checked_at"
    list_select_related = ("component",)


@admin.register(AlertRecord)
class AlertRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "source",
        "alertname",
        "fingerprint",
        "incident",
        "state",
        "repeats",
        "first_seen_at",
        "last_seen_at",
    )
    list_filter = ("source", "state")
    search_fields = ("fingerprint", "alertname")
    list_select_related = ("incident",)
