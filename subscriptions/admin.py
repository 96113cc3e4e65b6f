"""Staff side: subscribers (re-enable, CSV import and export) and the delivery log."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from subscriptions import services
from subscriptions.models import Delivery, Event, Subscriber

MAX_IMPORT_BYTES = 5 * 1024 * 1024


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV with a header row: address (or email), and optionally kind, contact_email, components."
    )


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ("address", "kind", "confirmed", "disabled", "imported", "created_at", "failures_in_row")
    list_filter = ("kind", "confirmed", "disabled", "imported")
    search_fields = ("address", "contact_email")
    readonly_fields = (
        "kind", "address", "confirmed", "confirmed_at", "disabled", "disabled_at", "disabled_reason", "imported",
        "created_at", "failing_since", "failures_in_row", "contact_told_at",
    )  # fmt: skip
    fieldsets = (
        (None, {"fields": ("kind", "address", "contact_email", "components")}),
        ("State", {"fields": ("confirmed", "confirmed_at", "imported", "created_at")}),
        ("Failures", {"fields": ("disabled", "disabled_at", "disabled_reason", "failing_since", "failures_in_row",
                                 "contact_told_at")}),
    )  # fmt: skip
    filter_horizontal = ("components",)
    actions = ("re_enable", "export_csv")
    change_list_template = "admin/subscriptions/subscriber/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # people subscribe themselves (double opt-in); staff import CSVs of opted-in addresses

    @admin.action(description="Re-enable selected subscriptions", permissions=["change"])
    def re_enable(self, request: HttpRequest, queryset) -> None:
        count = 0
        for subscriber in queryset.filter(disabled=True):
            services.subscriber_enable(subscriber=subscriber)
            count += 1
        self.message_user(request, f"Re-enabled {count} subscription(s).", messages.SUCCESS)

    @admin.action(description="Export selected subscribers as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset) -> HttpResponse:
        body = services.subscribers_export_csv(queryset.prefetch_related("components").iterator(chunk_size=2000))
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="subscribers-{stamp}.csv"'
        return response

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="subscriptions_subscriber_import"),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > MAX_IMPORT_BYTES:
                form.add_error("file", "The file is larger than 5 MB; split it.")
            else:
                try:
                    text = upload.read().decode("utf-8-sig")
                except UnicodeDecodeError:
                    form.add_error("file", "The file is not UTF-8 text.")
                else:
                    result = services.subscribers_import_csv(text=text)
                    if result.errors:
                        for error in result.errors[:20]:
                            form.add_error("file", error)
                        if len(result.errors) > 20:
                            form.add_error("file", f"… and {len(result.errors) - 20} more. Nothing was imported.")
                    else:
                        self.message_user(
                            request,
                            f"Imported {result.created} subscriber(s); {result.existing} were already subscribed.",
                            messages.SUCCESS,
                        )
                        return redirect("admin:subscriptions_subscriber_changelist")
        context = {**self.admin_site.each_context(request), "form": form, "opts": self.model._meta,
                   "title": "Import subscribers from CSV"}  # fmt: skip
        return TemplateResponse(request, "admin/subscriptions/subscriber/import.html", context)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("event", "subscriber", "state", "attempts", "last_status", "next_try_at", "delivered_at")
    list_filter = ("state", "event__kind", "subscriber__kind")
    search_fields = ("subscriber__address", "event__key")
    list_select_related = ("event", "subscriber")
    raw_id_fields = ("subscriber", "event")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("key", "kind", "incident", "component", "occurred_at", "fanned_out_at")
    list_filter = ("kind",)
    raw_id_fields = ("incident", "update", "component")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
