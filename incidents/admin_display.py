"""How the back office words timeline rows: "12:31 UTC · Alice (Slack) · monitoring → resolved · 'Fixed'".

Used by the timeline inline and by the message that refuses a stale change form. Names come
from stored `Person` rows (never from Slack at request time); ids are shown only when no
name is known.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import Truncator

from incidents.models import IncidentUpdate, Person, Severity, Source, Status, Visibility

FIELD_LABELS = {
    "title": "title",
    "description": "description",
    "severity": "severity",
    "status": "status",
    "visibility": "visibility",
    "reported_at": "reported",
    "acknowledged_at": "acknowledged",
    "monitoring_at": "monitoring since",
    "closed_at": "closed",
    "point": "point person",
    "contact": "contact",
    "point_name": "point person (name)",
    "contact_name": "contact (name)",
    "rca_link": "RCA link",
    "components": "components",
    "backfill": "backfilled",
}
PEOPLE_FIELDS = ("point", "contact")
TIME_FIELDS = ("reported_at", "acknowledged_at", "monitoring_at", "closed_at")
LONG_TEXT_FIELDS = ("description",)


def names_for(rows: Iterable[IncidentUpdate]) -> dict[str, str]:
    """Stored display names of every Slack id a set of rows mentions (one query)."""
    ids: set[str] = set()
    for row in rows:
        ids.add(row.author)
        for field in PEOPLE_FIELDS:
            ids.update(v for v in (row.changes or {}).get(field, []) if isinstance(v, str))
    return dict(Person.objects.filter(slack_id__in=ids).values_list("slack_id", "display_name"))


def format_time(value: datetime | str | None, *, with_date: bool = True) -> str:
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is None:
        return "—"
    local = timezone.localtime(value)
    return local.strftime("%Y-%m-%d %H:%M %Z" if with_date else "%H:%M %Z")


def format_short_time(value: datetime | None) -> str:
    """For the list: "1 Dec 14:15 UTC" this year, "1 Dec 2025 14:15 UTC" before."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    year = "" if local.year == timezone.localtime().year else f" {local.year}"
    return f"{local.day} {local:%b}{year} {local:%H:%M %Z}"


def person_label(slack_id: str, names: dict[str, str]) -> str:
    return names.get(slack_id, slack_id) if slack_id else "—"


def author_label(row: IncidentUpdate, names: dict[str, str]) -> str:
    author = row.author or "?"
    if author.startswith("staff:"):
        who = author.removeprefix("staff:")
    else:
        who = names.get(author, author)
    return f"{who} ({Source(row.source).label})" if row.source in Source.values else who


def value_label(field: str, value, names: dict[str, str]) -> str:
    if value in (None, "", []):
        return "—"
    if field in PEOPLE_FIELDS:
        return person_label(value, names)
    if field in TIME_FIELDS:
        return format_time(value)
    if field == "severity" and value in Severity.values:
        return value.upper()
    if field == "status" and value in Status.values:
        return str(value)
    if field == "visibility" and value in Visibility.values:
        return str(value)
    if field == "components":
        return ", ".join(value)
    if value is True:
        return "yes"
    return Truncator(str(value)).chars(60)


def describe_changes(changes: dict, names: dict[str, str]) -> list[str]:
    """Each changed field as "label: old → new" (long texts as "edited"); status first."""
    parts = []
    order = list(FIELD_LABELS)
    for field in sorted(changes, key=lambda f: (f != "status", order.index(f) if f in order else len(order))):
        pair = changes[field]
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            continue
        old, new = pair
        label = FIELD_LABELS.get(field, field.replace("_", " "))
        if field in LONG_TEXT_FIELDS:
            parts.append(f"{label} edited" if old else f"{label} set")
        elif old in (None, "", []) and field == "backfill":
            parts.append("backfilled (created already closed)")
        elif field == "status":
            parts.append(f"{value_label(field, old, names)} → {value_label(field, new, names)}")
        else:
            parts.append(f"{label}: {value_label(field, old, names)} → {value_label(field, new, names)}")
    return parts


def story(row: IncidentUpdate, names: dict[str, str]) -> str:
    """One line per row: time · who (where) · what changed · 'message'."""
    parts = [format_time(row.created_at), author_label(row, names)]
    if row.number == 1:
        changes = row.changes or {}
        severity = value_label("severity", (changes.get("severity") or [None, ""])[1], names)
        parts.append(f"{'backfilled' if 'backfill' in changes else 'opened'} as {severity}, {row.status}")
    else:
        parts.extend(describe_changes(row.changes or {}, names))
    if row.message:
        parts.append(f"“{Truncator(row.message).chars(200)}”")
    return " · ".join(parts)
