"""Staff back office. Every save and action goes through `incidents.services`,
so admin edits land in the timeline (author `staff:<username>`) and in Slack."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone

from incidents import admin_views, selectors, services, uptime
from incidents.metrics import format_seconds
from incidents.models import OPEN_STATUSES, Component, Incident, IncidentUpdate, Person, Source, Status

EDITABLE_FIELDS = (
    "title",
    "description",
    "severity",
    "status",
    "visibility",
    "reported_at",
    "closed_at",
    "point",
    "contact",
    "point_name",
    "contact_name",
    "rca_link",
    "components",
)


def staff_author(request: HttpRequest) -> str:
    return f"staff:{request.user.get_username()}"


class IncidentAdminForm(forms.ModelForm):
    rca_link = forms.URLField(label="RCA link", max_length=500, required=False, assume_scheme="https")
    update_message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Optional public update posted to the timeline (and Slack thread) with this change.",
    )

    class Meta:
        model = Incident
        fields = EDITABLE_FIELDS

    def clean(self):
        cleaned = super().clean()
        status = cleaned.get("status")
        if status == Status.RESOLVED and not cleaned.get("closed_at"):
            cleaned["closed_at"] = timezone.now()
        elif status and status != Status.RESOLVED:
            cleaned["closed_at"] = None
        return cleaned

    def _post_clean(self):
        super()._post_clean()
        try:
            services.incident_validate(self.instance, message=self.cleaned_data.get("update_message", ""))
        except ValidationError as exc:
            self._update_errors(exc)


class IncidentUpdateInline(admin.TabularInline):
    model = IncidentUpdate
    fields = ("number", "created_at", "author", "source", "status", "visibility", "message", "changes")
    readonly_fields = fields
    ordering = ("-number",)
    extra = 0
    can_delete = False
    verbose_name = "timeline entry"
    verbose_name_plural = "timeline (append-only)"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    form = IncidentAdminForm
    list_display = (
        "key",
        "title",
        "severity",
        "status",
        "visibility",
        "reported_at",
        "closed_at",
        "duration_display",
    )
    list_display_links = ("key", "title")
    list_filter = ("severity", "status", "visibility", "components", "reported_at")
    search_fields = ("title", "description")
    date_hierarchy = "reported_at"
    filter_horizontal = ("components",)
    readonly_fields = (
        "update_number",
        "acknowledged_at",
        "monitoring_at",
        "created_by",
        "created_at",
        "modified_by",
        "modified_at",
    )
    fieldsets = (
        (None, {"fields": ("title", "description", "severity", "status", "visibility", "components")}),
        ("Times", {"fields": ("reported_at", "closed_at", "acknowledged_at", "monitoring_at")}),
        ("People", {"fields": ("point", "contact", "point_name", "contact_name")}),
        ("Follow-up", {"fields": ("rca_link", "update_message")}),
        (
            "Record",
            {
                "classes": ("collapse",),
                "fields": ("update_number", "created_by", "created_at", "modified_by", "modified_at"),
            },
        ),
    )
    inlines = (IncidentUpdateInline,)
    actions = ("resolve_selected", "mark_invalid_selected", "export_csv")
    list_per_page = 50

    @admin.display(description="key", ordering="id")
    def key(self, incident: Incident) -> str:
        return incident.key

    @admin.display(description="duration")
    def duration_display(self, incident: Incident) -> str:
        duration = incident.duration
        return format_seconds(duration.total_seconds() if duration is not None else None)

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        incident_id = selectors.parse_incident_key(search_term)
        if incident_id is not None:
            results |= queryset.filter(pk=incident_id)
        return results, may_have_duplicates

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the timeline is append-only: mark invalid instead

    def get_urls(self):
        metrics = self.admin_site.admin_view(lambda request: admin_views.metrics_view(request, self))
        return [path("metrics/", metrics, name="incidents_incident_metrics"), *super().get_urls()]

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in EDITABLE_FIELDS if f in form.cleaned_data}
        message = form.cleaned_data.get("update_message", "")
        author = staff_author(request)
        if change:
            changed = {f: data[f] for f in form.changed_data if f in data}
            if "status" in changed or "closed_at" in changed:
                changed["closed_at"] = data.get("closed_at")
            incident = services.incident_update(
                incident_id=obj.pk, author=author, source=Source.ADMIN, message=message, **changed
            )
        else:
            incident = services.incident_create(author=author, source=Source.ADMIN, message=message, **data)
        obj.pk = incident.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        """Components were saved by the service (no `form.save_m2m()`); the timeline inline is read-only."""
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    @admin.action(description="Resolve selected incidents")
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        ids = list(queryset.filter(status__in=OPEN_STATUSES).values_list("pk", flat=True))
        for incident_id in ids:
            services.incident_resolve(incident_id=incident_id, author=staff_author(request), source=Source.ADMIN)
        self.message_user(request, f"Resolved {len(ids)} incident(s).", messages.SUCCESS)

    @admin.action(description="Mark selected incidents invalid")
    def mark_invalid_selected(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        ids = list(queryset.exclude(status=Status.INVALID).values_list("pk", flat=True))
        for incident_id in ids:
            services.incident_mark_invalid(incident_id=incident_id, author=staff_author(request), source=Source.ADMIN)
        self.message_user(request, f"Marked {len(ids)} incident(s) invalid.", messages.SUCCESS)

    @admin.action(description="Export selected incidents as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Incident]) -> HttpResponse:
        response = HttpResponse(admin_views.incidents_csv(queryset), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="incidents-{timezone.localdate():%Y%m%d}.csv"'
        return response


@admin.register(Component)
class ComponentAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "group", "position", "status_override", "detected_status", "uptime_90d")
    list_editable = ("position", "status_override")
    list_filter = ("group", "status_override")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    ordering = ("position", "name")
    readonly_fields = ("detected_status", "detected_since")

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        uptime.attach_uptime(list(changelist.result_list))
        return changelist

    @admin.display(description="uptime (90 d)")
    def uptime_90d(self, component: Component) -> str:
        value = getattr(component, "uptime_percent", None)
        return "" if value is None else f"{value:.2f} %"


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ("display_name", "slack_id", "refreshed_at")
    search_fields = ("display_name", "slack_id")
    readonly_fields = ("refreshed_at",)
