"""Staff pages added to the admin: the "Incident metrics" page and CSV exports.

The page is served through `IncidentAdmin.get_urls` (so it sits behind `admin_view`: login,
active staff) and also needs the view permission on incidents. Charts are inline SVG built
here on the server: no script, no external asset; the table carries the same numbers.
"""

import csv
import io
from datetime import UTC, date, timedelta

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from incidents import selectors
from incidents.metrics import MAX_MONTHS, Metrics, format_seconds, incident_metrics, metrics_csv
from incidents.models import Component, Incident, Severity
from incidents.postmortem import postmortem_draft, postmortem_filename

SEVERITY_COLOURS = {
    "sev-1": "#b91c1c",
    "sev-2": "#ea580c",
    "sev-3": "#ca8a04",
    "sev-4": "#2563eb",
    "sev-5": "#6b7280",
}
FIGURE_COLOURS = {"median": "#2563eb", "p90": "#93c5fd"}


class MetricsFilterForm(forms.Form):
    since = forms.DateField(label="Reported from", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="to (included)", widget=forms.DateInput(attrs={"type": "date"}))
    severities = forms.MultipleChoiceField(
        label="Severity", choices=Severity.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    components = forms.ModelMultipleChoiceField(
        queryset=Component.objects.order_by("position", "name"), required=False, to_field_name="slug"
    )

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until:
            if until < since:
                self.add_error("until", "The end of the range is before its start.")
            elif (until.year - since.year) * 12 + until.month - since.month + 1 > MAX_MONTHS:
                self.add_error("since", f"Choose a range of at most {MAX_MONTHS} months.")
        return cleaned


def default_range(today: date) -> dict[str, str]:
    """The last twelve months, this one included."""
    start = today.replace(day=1)
    for _ in range(11):
        start = (start - timedelta(days=1)).replace(day=1)
    return {"since": start.isoformat(), "until": today.isoformat()}


def range_presets(today: date) -> list[tuple[str, date, date]]:
    """The ranges staff ask for most: (label, since, until), until included."""
    quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    return [
        ("Last 30 days", today - timedelta(days=29), today),
        ("Last 90 days", today - timedelta(days=89), today),
        ("This quarter", quarter_start, today),
        ("This year", date(today.year, 1, 1), today),
    ]


def _preset_links(request: HttpRequest, today: date) -> list[dict]:
    links = []
    for label, since, until in range_presets(today):
        query = request.GET.copy()
        query.pop("format", None)
        query["since"], query["until"] = since.isoformat(), until.isoformat()
        selected = request.GET.get("since") == query["since"] and request.GET.get("until") == query["until"]
        links.append({"label": label, "query": query.urlencode(), "selected": selected})
    return links


def metrics_view(request: HttpRequest, model_admin) -> HttpResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    data = request.GET if ("since" in request.GET or "until" in request.GET) else default_range(timezone.localdate())
    form = MetricsFilterForm(data)
    metrics = None
    if form.is_valid():
        metrics = incident_metrics(
            since=form.cleaned_data["since"],
            until=form.cleaned_data["until"],
            severities=form.cleaned_data["severities"],
            components=list(form.cleaned_data["components"]),
        )
        if request.GET.get("format") == "csv":
            response = HttpResponse(metrics_csv(metrics), content_type="text/csv; charset=utf-8")
            filename = f"incident-metrics-{metrics.since:%Y%m%d}-{metrics.until:%Y%m%d}.csv"
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Incident metrics",
        "opts": Incident._meta,
        "form": form,
        "metrics": metrics,
        "rows": metrics_table(metrics) if metrics else [],
        "charts": metrics_charts(metrics) if metrics else [],
        "severities": Severity.values,
        "csv_query": _with_format_csv(request),
        "presets": _preset_links(request, timezone.localdate()),
    }
    return TemplateResponse(request, "admin/incidents/metrics.html", context)


def postmortem_view(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    """Download the incident's postmortem draft (`DCL-N-postmortem.md`): staff with the view permission only."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    incident = Incident.objects.filter(pk=int(object_id) if object_id.isdigit() else None).first()
    if incident is None:
        raise Http404("No such incident.")
    base_url = settings.PUBLIC_BASE_URL or request.build_absolute_uri("/").rstrip("/")
    text = postmortem_draft(incident, base_url=base_url, generated_at=timezone.now())
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{postmortem_filename(incident)}"'
    response["Cache-Control"] = "private, no-store"
    return response


def metrics_table(metrics: Metrics) -> list[dict]:
    rows = []
    for period in [*metrics.months, metrics.total]:
        rows.append(
            {
                "label": period.month.strftime("%b %Y") if period.month else "Total",
                "is_total": period.month is None,
                "count": period.count,
                "by_severity": [period.by_severity[s] for s in Severity.values],
                "mtta": _stats_cells(period.mtta),
                "mttr": _stats_cells(period.mttr),
            }
        )
    return rows


def _stats_cells(stats) -> dict:
    return {
        "count": stats.count,
        "mean": format_seconds(stats.mean),
        "median": format_seconds(stats.median),
        "p90": format_seconds(stats.p90),
    }


def metrics_charts(metrics: Metrics) -> list[dict]:
    """[{title, svg}]: counts stacked by severity, then median/p90 of MTTA and of MTTR."""
    labels = [p.month.strftime("%b %y") for p in metrics.months]
    title = "Incidents per month by severity"
    counts = bar_chart(
        title=title,
        labels=labels,
        series=[(s, [p.by_severity[s] for p in metrics.months], SEVERITY_COLOURS[s]) for s in Severity.values],
        stacked=True,
        format_value=str,
    )
    charts = [{"title": title, "svg": counts}]
    for metric, name in (("mtta", "Time to acknowledge"), ("mttr", "Time to resolve")):
        series = [
            (figure, [getattr(getattr(p, metric), figure) or 0 for p in metrics.months], FIGURE_COLOURS[figure])
            for figure in ("median", "p90")
        ]
        title = f"{name} per month (median and p90)"
        svg = bar_chart(title=title, labels=labels, series=series, stacked=False, format_value=format_seconds)
        charts.append({"title": title, "svg": svg})
    return charts


def bar_chart(*, title, labels, series, stacked: bool, format_value, width=720, height=240) -> SafeString:
    """An accessible SVG bar chart: one group per label, series stacked or side by side; pure."""
    left, right, top, bottom = 56, 8, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    if stacked:
        peak = max((sum(values[i] for _, values, _ in series) for i in range(len(labels))), default=0)
    else:
        peak = max((v for _, values, _ in series for v in values), default=0)
    peak = peak or 1
    slot = plot_w / max(len(labels), 1)
    bar_w = slot * 0.7 / (1 if stacked else max(len(series), 1))
    parts: list[SafeString] = []
    for i, label in enumerate(labels):
        x0 = left + i * slot + slot * 0.15
        base = 0.0
        for j, (name, values, colour) in enumerate(series):
            value = values[i]
            if not value:
                continue
            h = value / peak * plot_h
            x = x0 if stacked else x0 + j * bar_w
            y = top + plot_h - (base + h if stacked else h)
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} {}</title></rect>',
                    f"{x:.1f}",
                    f"{y:.1f}",
                    f"{bar_w:.1f}",
                    f"{h:.1f}",
                    colour,
                    label,
                    name,
                    format_value(value),
                )
            )
            if stacked:
                base += h
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="middle" font-size="11">{}</text>',
                f"{left + i * slot + slot / 2:.1f}",
                height - bottom + 16,
                label,
            )
        )
    axis = format_html(
        '<line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="#999"/>'
        '<line x1="{l}" y1="{t}" x2="{l}" y2="{b}" stroke="#999"/>'
        '<text x="{lx}" y="{ty}" text-anchor="end" font-size="11">{peak}</text>'
        '<text x="{lx}" y="{b}" text-anchor="end" font-size="11">0</text>',
        l=left,
        r=width - right,
        t=top,
        b=top + plot_h,
        lx=left - 4,
        ty=top + 4,
        peak=format_value(peak),
    )
    legend = format_html_join(
        "",
        '<rect x="{}" y="6" width="10" height="10" fill="{}"/><text x="{}" y="15" font-size="11">{}</text>',
        ((left + k * 90, colour, left + k * 90 + 14, name) for k, (name, _, colour) in enumerate(series)),
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{t}">'
        "<title>{t}</title>{legend}{axis}{bars}</svg>",
        w=width,
        h=height,
        t=title,
        legend=legend,
        axis=axis,
        bars=mark_safe("".join(parts)),  # noqa: S308 (each part built by format_html)
    )


def _with_format_csv(request: HttpRequest) -> str:
    query = request.GET.copy()
    query["format"] = "csv"
    if "since" not in query:
        query.update(default_range(timezone.localdate()))
    return query.urlencode()


# CSV export of the incident list (admin action).

INCIDENT_CSV_HEADER = [
    "key",
    "id",
    "title",
    "severity",
    "status",
    "visibility",
    "reported_at",
    "acknowledged_at",
    "monitoring_at",
    "closed_at",
    "time_to_acknowledge_s",
    "time_to_resolve_s",
    "point",
    "contact",
    "components",
    "rca_link",
    "update_number",
    "created_by",
    "modified_at",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def incidents_csv(incidents) -> str:
    """Incidents as CSV (UTC ISO times, durations in seconds), safe to open in a spreadsheet."""
    incidents = list(incidents.prefetch_related("components").order_by("id"))
    names = selectors.display_names(incidents)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(INCIDENT_CSV_HEADER)
    for i in incidents:
        writer.writerow(
            [
                i.key,
                i.pk,
                _cell(i.title),
                i.severity,
                i.status,
                i.visibility,
                _iso(i.reported_at),
                _iso(i.acknowledged_at),
                _iso(i.monitoring_at),
                _iso(i.closed_at),
                _seconds(i.reported_at, i.acknowledged_at),
                _seconds(i.reported_at, i.closed_at),
                _cell(selectors.person_label(slack_id=i.point, free_text=i.point_name, names=names)),
                _cell(selectors.person_label(slack_id=i.contact, free_text=i.contact_name, names=names)),
                _cell("; ".join(c.name for c in i.components.all())),
                _cell(i.rca_link),
                i.update_number,
                _cell(i.created_by),
                _iso(i.modified_at),
            ]
        )
    return out.getvalue()


def _cell(text: str) -> str:
    """Keep spreadsheets from running a cell as a formula (CSV injection)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _iso(value) -> str:
    return value.astimezone(UTC).isoformat() if value else ""


def _seconds(start, end) -> int | str:
    return int((end - start).total_seconds()) if start and end else ""
