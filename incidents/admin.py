"""Staff back office. Every save and action goes through `incidents.services`,
so admin edits land in the timeline (author: the staff member's linked Slack user id, else
`staff:<username>`) and in Slack."""

import re
from datetime import datetime, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Exists, Max, Min, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, NullIf
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join

from incidents import admin_display, admin_views, selectors, services
from incidents.metrics import format_seconds
from incidents.models import (
    CLOSED_STATUSES,
    MAINTENANCE_ACTIVE_STATUSES,
    OPEN_STATUSES,
    Component,
    Incident,
    IncidentUpdate,
    Kind,
    Person,
    Source,
    StaffSlackIdentity,
    Status,
    Visibility,
)

# A maintenance's window and what the worker does by itself (SPEC §8); ignored for incidents.
MAINTENANCE_FIELDS = ("kind", "scheduled_for", "scheduled_until", "auto_start", "auto_complete")
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
    *MAINTENANCE_FIELDS,
)


def _differs(field: str, submitted, at_open) -> bool:
    """Did the staff member change `field` from the value it had when they opened the form?"""
    if field == "components":
        return sorted(c.name for c in submitted or []) != sorted(at_open or [])
    if isinstance(submitted, datetime):
        return at_open is None or submitted != parse_datetime(at_open)
    return (submitted or "") != (at_open or "")


def staff_author(request: HttpRequest) -> str:
    """A staff member linked to a Slack user is that user in the timeline, as with their Slack commands."""
    slack_user_id = selectors.staff_slack_user_id(user_id=request.user.pk)
    return slack_user_id or f"staff:{request.user.get_username()}"


PERSON_CHOICE = re.compile(r"\((?P<id>[UW][A-Z0-9]{2,31})\)\s*$")


class PersonInput(forms.TextInput):
    """A text box that suggests stored people by name (a <datalist>, no script); shows "Name (U…)"."""

    def format_value(self, value):
        if value and services.SLACK_USER_ID.match(str(value)):
            name = Person.objects.filter(slack_id=value).values_list("display_name", flat=True).first()
            return f"{name} ({value})" if name else value
        return super().format_value(value)

    def render(self, name, value, attrs=None, renderer=None):
        list_id = f"{(attrs or {}).get('id') or name}-people"
        html = super().render(name, value, {**(attrs or {}), "list": list_id, "autocomplete": "off"}, renderer)
        people = Person.objects.order_by("display_name").values_list("display_name", "slack_id")[:2000]
        options = format_html_join("", '<option value="{} ({})"></option>', people)
        return format_html('{}<datalist id="{}">{}</datalist>', html, list_id, options)


class PersonField(forms.CharField):
    """Chosen by name from the stored people, or typed as a Slack user id (U012ABCDEF)."""

    widget = PersonInput

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "Start typing a name; or enter a Slack user id (U012ABCDEF).")
        super().__init__(required=False, max_length=250, **kwargs)

    def to_python(self, value) -> str:
        text = super().to_python(value).strip()
        if not text or services.SLACK_USER_ID.match(text):
            return text
        match = PERSON_CHOICE.search(text)
        if match:
            return match.group("id")
        ids = list(Person.objects.filter(display_name__iexact=text).values_list("slack_id", flat=True)[:2])
        if len(ids) == 1:
            return ids[0]
        if ids:
            raise ValidationError(f"Several people are called “{text}”: pick one from the list.")
        raise ValidationError(f"Nobody called “{text}” is known yet: pick from the list or enter a Slack user id.")


class IncidentAdminForm(forms.ModelForm):
    point = PersonField(label="Point person")
    contact = PersonField(label="Contact")
    rca_link = forms.URLField(label="RCA link", max_length=500, required=False, assume_scheme="https")
    update_message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Optional public update posted to the timeline (and Slack thread) with this change.",
    )
    kind = forms.ChoiceField(
        choices=Kind.choices,
        required=False,
        initial=Kind.INCIDENT,
        help_text="A maintenance has a window, its own statuses (scheduled → in progress → verifying → "
        "completed, or cancelled), no public severity, and is started and completed by the worker.",
    )

    # Optimistic concurrency: the timeline position this form was opened at (see `_refuse_if_stale`).
    seen_update_number = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)

    class Meta:
        model = Incident
        fields = EDITABLE_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["seen_update_number"].initial = self.instance.update_number

    def clean_kind(self) -> str:
        if self.instance.pk:
            return self.instance.kind  # the kind is chosen once, at creation
        return self.cleaned_data.get("kind") or Kind.INCIDENT

    def clean(self):
        cleaned = super().clean()
        self._refuse_if_stale(cleaned)
        status = cleaned.get("status")
        if status in CLOSED_STATUSES and not cleaned.get("closed_at"):
            cleaned["closed_at"] = timezone.now()
        elif status and status not in CLOSED_STATUSES:
            cleaned["closed_at"] = None
        if cleaned.get("kind") != Kind.MAINTENANCE:
            for field in MAINTENANCE_FIELDS[1:]:  # an incident has no window: what the form sent is ignored
                cleaned.pop(field, None)
                setattr(self.instance, field, Incident._meta.get_field(field).get_default())
        return cleaned

    def _refuse_if_stale(self, cleaned: dict) -> None:
        """Refuse a save from a form opened before someone else changed a field of this incident.

        The row is locked until the admin's transaction ends (the save happens in the same one),
        so nothing can slip in between this check and the save. Rows that change no field (a
        message, a note, a system row) don't count. The staff member's input is kept; fields they
        did not touch are brought up to date, and the marker moves on, so saving again applies
        their edit on top of the current incident.
        """
        seen = cleaned.get("seen_update_number")
        if self.instance.pk is None or seen is None:
            return
        current = Incident.objects.select_for_update().get(pk=self.instance.pk)
        if current.update_number == seen:
            return
        rows = [
            row
            for row in IncidentUpdate.objects.filter(incident=current, number__gt=seen + 1).order_by("number")
            if row.changes
        ]
        if not rows:
            return
        names = admin_display.names_for(rows)
        opened_with = {}
        for row in rows:
            for field, pair in row.changes.items():
                opened_with.setdefault(field, pair[0])
        clashes = [f for f in opened_with if f in self.fields and _differs(f, cleaned.get(f), opened_with[f])]
        self._bring_up_to_date(current, [f for f in opened_with if f in self.fields and f not in clashes])
        lines = [f"{admin_display.story(row, names)}" for row in rows]
        message = (
            f"{current.key} was changed by someone else after you opened this page, so your changes were not "
            f"saved: {'; '.join(lines)}. Fields you had not touched now show the current values"
        )
        if clashes:
            labels = ", ".join(admin_display.FIELD_LABELS.get(f, f) for f in clashes)
            message += f"; you and they both changed: {labels} (your values are kept; check them)"
        raise ValidationError(message + ". Review and save again.", code="stale")

    def _bring_up_to_date(self, current: Incident, fields: list[str]) -> None:
        data = self.data.copy()
        data[self.add_prefix("seen_update_number")] = str(current.update_number)
        fresh = type(self)(instance=current, prefix=self.prefix)
        for name in fields:
            field = self.fields[name]
            key = self.add_prefix(name)
            value = fresh[name].initial
            widget = field.widget
            if name == "components":
                data.setlist(key, [str(getattr(c, "pk", c)) for c in value or []])
            elif isinstance(widget, forms.MultiWidget):
                parts = zip(widget.widgets_names, widget.widgets, widget.decompress(value), strict=True)
                for suffix, sub, part in parts:
                    data[key + suffix] = sub.format_value(part) or ""
            else:
                formatted = widget.format_value(value)
                if isinstance(formatted, list):  # choice widgets
                    data.setlist(key, formatted)
                else:
                    data[key] = formatted or ""
        self.data = data

    def _post_clean(self):
        super()._post_clean()
        try:
            services.incident_validate(self.instance, message=self.cleaned_data.get("update_message", ""))
        except ValidationError as exc:
            self._update_errors(exc)


class IncidentUpdateInline(admin.TabularInline):
    """The timeline as a story, newest first: "12:31 UTC · Alice (Slack) · monitoring → resolved · 'Fixed'"."""

    model = IncidentUpdate
    fields = ("number",)
    readonly_fields = fields
    ordering = ("-number",)
    extra = 0
    can_delete = False
    verbose_name = "timeline entry"
    verbose_name_plural = "timeline (append-only, newest first)"
    template = "admin/incidents/incident/timeline_inline.html"

    def get_queryset(self, request):
        """The rows are shown from `render_change_form`'s `timeline`; the formset itself stays empty."""
        return super().get_queryset(request).none()

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class BoundedCountPaginator(Paginator):
    """Counts at most `limit` rows, so a list over years of history costs what a list over months does.

    An exact `COUNT(*)` reads every matching row (issue 17: the "All" list grew 11× from 1k to 100k
    incidents); past the limit the list says "more than" (admin/incidents/incident/pagination.html)
    and pages stop there: staff narrow with the filters, the dates or the search.
    """

    limit = 1000

    @property
    def count(self) -> int:
        if not hasattr(self, "_bounded_count"):
            self._bounded_count = self.object_list.order_by().values("pk")[: self.limit + 1].count()
        return min(self._bounded_count, self.limit)

    @property
    def capped(self) -> bool:
        return self.count == self.limit and self._bounded_count > self.limit


class ChangeListQuerySet(QuerySet):
    """`date_hierarchy`'s periods found by one indexed `EXISTS` per candidate year, month or day
    between the first and last date, all in one query, instead of `DISTINCT date_trunc(...)` over
    every row."""

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        if kind not in ("year", "month", "day"):
            return super().datetimes(field_name, kind, order=order, tzinfo=tzinfo)
        bounds = self.aggregate(first=Min(field_name), last=Max(field_name))
        if bounds["first"] is None:
            return []
        zone = tzinfo or timezone.get_current_timezone()
        first, last = bounds["first"].astimezone(zone), bounds["last"].astimezone(zone)
        start = datetime(
            first.year, first.month if kind != "year" else 1, first.day if kind == "day" else 1, tzinfo=zone
        )
        candidates = []
        while start <= last:
            end = _next_period(start, kind)
            candidates.append((start, end))
            start = end
        # One round trip whatever the number of candidates (30 years of history: 30 index probes, 1 query).
        probes = {
            f"p{n}": Exists(self.order_by().filter(**{f"{field_name}__gte": a, f"{field_name}__lt": b}))
            for n, (a, b) in enumerate(candidates)
        }
        found = self.order_by().annotate(**probes).values(*probes)[:1].get()
        periods = [a for n, (a, _) in enumerate(candidates) if found[f"p{n}"]]
        return periods if order == "ASC" else periods[::-1]


def _next_period(start: datetime, kind: str) -> datetime:
    if kind == "year":
        return start.replace(year=start.year + 1)
    if kind == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    day = start.date() + timedelta(days=1)
    return start.replace(year=day.year, month=day.month, day=day.day)


# Incidents still open, and maintenances scheduled or under way (SPEC §8).
NOT_OVER = (*OPEN_STATUSES, Status.SCHEDULED, *MAINTENANCE_ACTIVE_STATUSES)


class OpenFilter(admin.SimpleListFilter):
    """Open incidents and maintenances not over yet by default: what staff look for first."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("open", "Open"), ("closed", "Over (resolved, invalid, completed, cancelled)"), ("all", "All"))

    def choices(self, changelist):
        for value, label in self.lookup_choices:
            yield {
                "selected": (self.value() or "open") == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or "open"
        if value == "open":
            return queryset.filter(status__in=NOT_OVER)
        if value == "closed":
            return queryset.exclude(status__in=NOT_OVER)
        return queryset


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    form = IncidentAdminForm
    list_display = (
        "severity_badge",
        "status_badge",
        "key",
        "title",
        "component_list",
        "point_person",
        "reported",
        "closed",
        "duration_display",
    )
    list_display_links = ("key", "title")
    list_filter = (OpenFilter, "kind", "severity", "status", "components", "visibility")
    search_fields = ("title",)
    search_help_text = "Search by key (DCL-12 or 12) or words of the title."
    date_hierarchy = "reported_at"
    filter_horizontal = ("components",)
    readonly_fields = (
        "key",
        "update_number",
        "acknowledged",
        "monitoring_since",
        "started_at",
        "created_by",
        "created",
        "modified_by",
        "modified",
    )
    fieldsets = (
        ("What", {"fields": ("title", "description", "components", "seen_update_number")}),
        ("Impact", {"fields": ("severity", "status", "visibility")}),
        ("People", {"fields": ("point", "contact", ("point_name", "contact_name"))}),
        ("Lifecycle", {"fields": ("reported_at", "closed_at", "acknowledged", "monitoring_since")}),
        ("Public text", {"fields": ("update_message", "rca_link")}),
        (
            "Scheduled maintenance",
            {
                "fields": ("kind", "scheduled_for", "scheduled_until", "auto_start", "auto_complete", "started_at"),
                "description": "Only for a maintenance (kind Maintenance): its window and what Crashbot does by "
                "itself. Severity and people are not shown publicly for a maintenance.",
            },
        ),
        (
            "Record",
            {
                "classes": ("collapse",),
                "fields": ("update_number", "created_by", "created", "modified_by", "modified"),
            },
        ),
    )
    inlines = (IncidentUpdateInline,)
    actions = ("resolve_selected", "mark_invalid_selected", "export_csv")
    list_per_page = 50
    # Bounded list pages (issue 17): no second COUNT(*) of the whole table, a count that stops.
    show_full_result_count = False
    paginator = BoundedCountPaginator

    def response_action(self, request, queryset):
        """An action on "all N selected" acts on every matching row; past the bounded count N would
        understate it, so such a request is refused until the list is narrowed (nothing changes)."""
        limit = BoundedCountPaginator.limit
        if request.POST.get("select_across") == "1" and queryset.order_by().values("pk")[: limit + 1].count() > limit:
            self.message_user(
                request,
                f"More than {limit:,} incidents match, so that action was not applied. Narrow the list "
                "(filters, dates or search) and apply it again.",
                messages.WARNING,
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)

    def get_queryset(self, request):
        point_name = Person.objects.filter(slack_id=OuterRef("point")).values("display_name")[:1]
        queryset = super().get_queryset(request)
        return (
            ChangeListQuerySet(self.model, query=queryset.query, using=queryset.db)
            .prefetch_related("components")
            .annotate(point_display=Coalesce(Subquery(point_name), NullIf("point_name", Value("")), "point"))
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        rows = list(IncidentUpdate.objects.filter(incident=obj).order_by("-number")) if obj is not None else []
        names = admin_display.names_for(rows)
        context["timeline"] = [
            {
                "number": r.number,
                "story": admin_display.story(r, names),
                "internal": r.visibility == Visibility.INTERNAL,
            }
            for r in rows
        ]
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in ("reported_at", "closed_at") and field is not None:
            field.help_text = f"Time zone: {timezone.get_current_timezone_name()}."
        return field

    @admin.display(description="sev", ordering="severity")
    def severity_badge(self, incident: Incident) -> str:
        colour = admin_views.SEVERITY_COLOURS.get(incident.severity, "#6b7280")
        return format_html(
            '<span class="cb-badge" style="background:{}" title="{}">{}</span>',
            colour,
            incident.get_severity_display(),
            incident.severity.upper(),
        )

    @admin.display(description="status", ordering="status")
    def status_badge(self, incident: Incident) -> str:
        return format_html(
            '<span class="cb-badge cb-status-{}">{}</span>', incident.status, incident.get_status_display()
        )

    @admin.display(description="key", ordering="id")
    def key(self, incident: Incident) -> str:
        return incident.key

    @admin.display(description="components")
    def component_list(self, incident: Incident) -> str:
        return ", ".join(c.name for c in incident.components.all()) or "—"

    @admin.display(description="point person", ordering="point_display")
    def point_person(self, incident: Incident) -> str:
        return getattr(incident, "point_display", None) or "—"

    @admin.display(description="reported", ordering="reported_at")
    def reported(self, incident: Incident) -> str:
        return admin_display.format_short_time(incident.reported_at)

    @admin.display(description="closed", ordering="closed_at")
    def closed(self, incident: Incident) -> str:
        return admin_display.format_short_time(incident.closed_at)

    @admin.display(description="acknowledged")
    def acknowledged(self, incident: Incident) -> str:
        return admin_display.format_time(incident.acknowledged_at) if incident.acknowledged_at else "—"

    @admin.display(description="monitoring since")
    def monitoring_since(self, incident: Incident) -> str:
        return admin_display.format_time(incident.monitoring_at) if incident.monitoring_at else "—"

    @admin.display(description="created")
    def created(self, incident: Incident) -> str:
        return admin_display.format_time(incident.created_at)

    @admin.display(description="modified")
    def modified(self, incident: Incident) -> str:
        return admin_display.format_time(incident.modified_at)

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
        postmortem = self.admin_site.admin_view(
            lambda request, object_id: admin_views.postmortem_view(request, self, object_id)
        )
        return [
            path("metrics/", metrics, name="incidents_incident_metrics"),
            path("<path:object_id>/postmortem/", postmortem, name="incidents_incident_postmortem"),
            *super().get_urls(),
        ]

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in EDITABLE_FIELDS if f in form.cleaned_data}
        message = form.cleaned_data.get("update_message", "")
        author = staff_author(request)
        if change:
            data.pop("kind", None)  # chosen once, at creation
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

    @admin.action(description="Resolve selected incidents", permissions=["change"])
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        ids = list(queryset.filter(status__in=OPEN_STATUSES).values_list("pk", flat=True))
        for incident_id in ids:
            services.incident_resolve(incident_id=incident_id, author=staff_author(request), source=Source.ADMIN)
        self.message_user(request, f"Resolved {len(ids)} incident(s).", messages.SUCCESS)

    @admin.action(description="Mark selected incidents invalid", permissions=["change"])
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
        selectors.attach_uptime(list(changelist.result_list))
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


class StaffSlackIdentityForm(forms.ModelForm):
    class Meta:
        model = StaffSlackIdentity
        fields = ("user", "slack_user_id")

    def clean_slack_user_id(self) -> str:
        value = self.cleaned_data["slack_user_id"].strip()
        if not services.SLACK_USER_ID.match(value):
            raise ValidationError("A Slack user id looks like U012ABCDEF (or W… on Enterprise Grid).")
        return value


@admin.register(StaffSlackIdentity)
class StaffSlackIdentityAdmin(admin.ModelAdmin):
    """Which Slack user each staff account is (Sign in with Slack, attribution of admin edits).

    No group is granted these permissions: only superusers link people (README "Sign in with Slack").
    """

    form = StaffSlackIdentityForm
    list_display = ("user", "slack_user_id", "slack_team_id", "linked_via", "linked_at", "last_sign_in_at")
    list_filter = ("linked_via",)
    search_fields = ("user__username", "user__email", "slack_user_id")
    readonly_fields = ("slack_team_id", "linked_via", "linked_at", "last_sign_in_at")

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "user") if obj else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = db_field.related_model.objects.filter(is_staff=True).order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        identity = services.staff_identity_link(user_id=obj.user_id, slack_user_id=obj.slack_user_id)
        obj.pk = identity.pk
        obj.refresh_from_db()
