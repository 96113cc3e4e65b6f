"""Bring the first version's history along: import a `/list` document (LEGACY.md).

    python manage.py import_crashbot_list export.json [--dry-run]
    python manage.py import_crashbot_list https://crashbot.example.org/list [--api-key KEY]

The whole document is checked before anything is written, and written in one transaction:
a malformed document is refused with the item and field at fault and nothing is imported.
Choices (docs/METRICS.md, "Importing the first version"):
- an item keeps its id when that id is free; otherwise it gets a new one and the map is printed;
- `open` → `investigating`, `closed` → `resolved`; display names go to `point_name`/`contact_name`
  (`Not assigned` means none);
- the source's times are kept as given (`reported_at`, `closed_at`, `modified_at`), so `/list`
  serves the same values after the import as the first version did;
- every imported incident gets one `import` timeline row whose `changes` carry `legacy_id`;
  an item whose legacy id is already recorded is skipped, so running the import twice
  changes nothing (later edits in the old system are not re-imported);
- what the new system would refuse (title over 120 characters, description over 4000, a time
  in the future, a bad RCA URL) is refused, not truncated: the first version allowed 65 and 2000.
"""

import json
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import connection, transaction

from incidents import services
from incidents.models import Incident, IncidentUpdate, Severity, Source, Status

AUTHOR = "import"
NOT_ASSIGNED = "not assigned"
LEGACY_STATUS = {"open": Status.INVESTIGATING, "closed": Status.RESOLVED}
FETCH_TIMEOUT = 30
MAX_BYTES = 50 * 1024 * 1024

# key → (accepted JSON types, may be null); every key of LEGACY.md must be present.
ITEM_KEYS: dict[str, tuple[tuple[type, ...], bool]] = {
    "id": ((int,), False),
    "update_number": ((int,), False),
    "modified_at": ((str,), False),
    "reported_at": ((str,), False),
    "closed_at": ((str,), True),
    "status": ((str,), False),
    "severity": ((str,), False),
    "title": ((str,), False),
    "description": ((str,), False),
    "point": ((str,), False),
    "contact": ((str,), False),
    "rca_link": ((str,), True),
}
JSON_TYPE_NAMES = {int: "a number", str: "a string"}
# New-system field → the legacy key it comes from, to point at the right key in errors.
FIELD_TO_KEY = {"point_name": "point", "contact_name": "contact", "status": "status"}


class DocumentError(CommandError):
    """A refusal naming the item (`closed[3]`) and key at fault."""


@dataclass(frozen=True)
class LegacyItem:
    where: str
    legacy_id: int
    fields: dict[str, Any]  # keyword arguments for services.incident_create
    notes: tuple[str, ...]
    update_number: int
    modified_at: datetime


class Command(BaseCommand):
    help = "Import incidents from a first-version Crashbot /list JSON document (a file, '-' for stdin, or a URL)."

    def add_arguments(self, parser):
        parser.add_argument("source", help="path to a JSON file, '-' for stdin, or an http(s) URL of a /list")
        parser.add_argument("--dry-run", action="store_true", help="check the document and print the plan only")
        parser.add_argument("--api-key", default="", help="value of the `crashbot` header when fetching a URL")

    def handle(self, *args, source: str, dry_run: bool, api_key: str, **options):
        items = parse_document(load_json(read_source(source, api_key=api_key)))
        for item in items:
            check_item(item)
        imported = already_imported()
        to_keep, to_map, skipped = plan(items, imported)

        if dry_run:
            for item in skipped:
                self._say(item, f"already imported as {_key(imported[item.legacy_id])}, skip")
            for item in to_keep:
                self._say(item, f"would create {_key(item.legacy_id)}")
            for item in to_map:
                self._say(item, "id taken, would create with a new id")
            self.stdout.write(
                f"Would import {len(to_keep) + len(to_map)}, skip {len(skipped)} (dry run: nothing written)."
            )
            return

        id_map: dict[int, int] = {}
        try:
            with transaction.atomic():
                for item in to_keep:
                    create(item, incident_id=item.legacy_id)
                reset_incident_sequence()
                for item in to_map:
                    id_map[item.legacy_id] = create(item, incident_id=None).pk
        except ValidationError as exc:  # checked above; only a concurrent writer gets here
            raise CommandError(f"Nothing imported: {exc}") from exc

        for item in skipped:
            self._say(item, f"already imported as {_key(imported[item.legacy_id])}, skipped")
        for item in to_keep:
            self._say(item, f"created {_key(item.legacy_id)}")
        for item in to_map:
            self._say(item, f"id taken, created {_key(id_map[item.legacy_id])}")
        if id_map:
            self.stdout.write("Id map (old → new): " + ", ".join(f"{old} → {new}" for old, new in id_map.items()))
        self.stdout.write(self.style.SUCCESS(f"Imported {len(to_keep) + len(to_map)}, skipped {len(skipped)}."))

    def _say(self, item: "LegacyItem", what: str) -> None:
        self.stdout.write(f"{item.where} id {item.legacy_id}: {what}")


def read_source(source: str, *, api_key: str = "") -> bytes:
    if source == "-":
        return sys.stdin.buffer.read(MAX_BYTES + 1)
    if source.startswith(("http://", "https://")):
        request = urllib.request.Request(source, headers={"Accept": "application/json", "crashbot": api_key})  # noqa: S310 (scheme checked)
        try:
            with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310 (scheme checked)
                return response.read(MAX_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise CommandError(f"Could not fetch {source}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise CommandError(f"Could not fetch {source}: {getattr(exc, 'reason', exc)}") from exc
    if "://" in source:
        raise CommandError(f"Only http(s) URLs or file paths are accepted, not {source!r}.")
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise CommandError(f"Could not read {source}: {exc.strerror or exc}") from exc


def load_json(raw: bytes) -> Any:
    if len(raw) > MAX_BYTES:
        raise DocumentError(f"The document is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DocumentError(f"The document is not UTF-8 text (byte {exc.start}).") from exc
    except json.JSONDecodeError as exc:
        raise DocumentError(f"Not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}.") from exc


def parse_document(data: Any) -> list[LegacyItem]:
    """Check the shape of every item (LEGACY.md) and turn it into service arguments; pure."""
    if not isinstance(data, dict):
        raise DocumentError('The document must be a JSON object with "open" and "closed" arrays.')
    for name in ("open", "closed"):
        if name not in data:
            raise DocumentError(f'The document has no "{name}" array.')
        if not isinstance(data[name], list):
            raise DocumentError(f'"{name}" must be an array.')
    items: list[LegacyItem] = []
    seen: dict[int, str] = {}
    for name in ("open", "closed"):
        for index, raw in enumerate(data[name]):
            item = parse_item(raw, where=f"{name}[{index}]", expected_status=name)
            if item.legacy_id in seen:
                raise DocumentError(f"{item.where}.id: {item.legacy_id} appears twice (also {seen[item.legacy_id]}).")
            seen[item.legacy_id] = item.where
            items.append(item)
    return items


def parse_item(raw: Any, *, where: str, expected_status: str) -> LegacyItem:
    if not isinstance(raw, dict):
        raise DocumentError(f"{where}: expected an object, got {_json_type(raw)}.")
    for key, (types, nullable) in ITEM_KEYS.items():
        if key not in raw:
            raise DocumentError(f"{where}: missing key {key!r}.")
        value = raw[key]
        if value is None and nullable:
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            expected = " or ".join(JSON_TYPE_NAMES[t] for t in types) + (" or null" if nullable else "")
            raise DocumentError(f"{where}.{key}: expected {expected}, got {_json_type(value)}.")
    if raw["id"] < 1:
        raise DocumentError(f"{where}.id: must be a positive number, got {raw['id']}.")
    if raw["update_number"] < 0:
        raise DocumentError(f"{where}.update_number: must not be negative, got {raw['update_number']}.")
    if raw["status"] not in LEGACY_STATUS:
        raise DocumentError(f"{where}.status: expected 'open' or 'closed', got {raw['status']!r}.")
    if raw["status"] != expected_status:
        raise DocumentError(f"{where}.status: {raw['status']!r} in the {expected_status!r} array.")
    if raw["severity"] not in Severity.values:
        raise DocumentError(f"{where}.severity: expected one of {', '.join(Severity.values)}, got {raw['severity']!r}.")

    notes = []
    reported_at = _parse_time(raw["reported_at"], where=f"{where}.reported_at")
    modified_at = _parse_time(raw["modified_at"], where=f"{where}.modified_at")
    closed_at = None if raw["closed_at"] is None else _parse_time(raw["closed_at"], where=f"{where}.closed_at")
    status = LEGACY_STATUS[raw["status"]]
    if status == Status.RESOLVED and closed_at is None:
        closed_at = modified_at
        notes.append("closed time unknown, last modification used")
    elif status != Status.RESOLVED and closed_at is not None:
        notes.append(f"open with a stale closed time {raw['closed_at']} (ignored)")
        closed_at = None
    fields = {
        "title": " ".join(raw["title"].split()),
        "description": raw["description"],
        "severity": Severity(raw["severity"]),
        "status": status,
        "reported_at": reported_at,
        "closed_at": closed_at,
        "modified_at": modified_at,
        "point_name": _name(raw["point"]),
        "contact_name": _name(raw["contact"]),
        "rca_link": (raw["rca_link"] or "").strip(),
    }
    return LegacyItem(
        where=where,
        legacy_id=raw["id"],
        fields=fields,
        notes=tuple(notes),
        update_number=raw["update_number"],
        modified_at=modified_at,
    )


def check_item(item: LegacyItem) -> None:
    """What the services would refuse, refused up front with the item's position (nothing written)."""
    incident = Incident(**item.fields, created_by=AUTHOR, modified_by=AUTHOR)
    try:
        services.incident_validate(incident, message=_message(item))
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise DocumentError(f"{item.where}.{FIELD_TO_KEY.get(field, field)}: {' '.join(messages)}") from exc


def already_imported() -> dict[int, int]:
    """{legacy id: incident id} of everything a previous import created."""
    rows = IncidentUpdate.objects.filter(number=1, source=Source.IMPORT, changes__has_key="legacy_id")
    return {changes["legacy_id"][1]: incident_id for incident_id, changes in rows.values_list("incident_id", "changes")}


def plan(items: list[LegacyItem], imported: dict[int, int]):
    """Split into (keep their id, need a new id, already imported)."""
    fresh = [item for item in items if item.legacy_id not in imported]
    taken = set(Incident.objects.filter(pk__in=[i.legacy_id for i in fresh]).values_list("pk", flat=True))
    to_keep = [item for item in fresh if item.legacy_id not in taken]
    to_map = [item for item in fresh if item.legacy_id in taken]
    skipped = [item for item in items if item.legacy_id in imported]
    return to_keep, to_map, skipped


def create(item: LegacyItem, *, incident_id: int | None) -> Incident:
    return services.incident_create(
        **item.fields,
        author=AUTHOR,
        source=Source.IMPORT,
        message=_message(item),
        incident_id=incident_id,
        record={"legacy_id": item.legacy_id, "legacy_update_number": item.update_number},
        public_update_number=item.update_number,
        public_modified_at=item.modified_at,
    )


def reset_incident_sequence() -> None:
    """After explicit ids, move PostgreSQL's id sequence past them (SQLite's AUTOINCREMENT already is)."""
    statements = connection.ops.sequence_reset_sql(no_style(), [Incident])
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def _message(item: LegacyItem) -> str:
    text = (
        f"Imported from the first version (id {item.legacy_id}, {item.update_number} update(s), "
        f"last modified {item.modified_at.isoformat()})."
    )
    if item.notes:
        text += " Note: " + "; ".join(item.notes) + "."
    return text


def _parse_time(value: str, *, where: str) -> datetime:
    """ISO 8601 as the first version wrote it (`…Z`); a time without offset is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise DocumentError(f"{where}: {value!r} is not an ISO 8601 date and time.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _name(value: str) -> str:
    value = value.strip()
    return "" if value.lower() == NOT_ASSIGNED else value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {int: "a number", float: "a number", str: "a string", list: "an array", dict: "an object"}.get(
        type(value), type(value).__name__
    )


def _key(incident_id: int) -> str:
    return Incident(pk=incident_id).key
