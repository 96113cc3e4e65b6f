"""Reading Alertmanager (webhook v4) and Grafana alerting webhook bodies: pure, no database.

Both send the same outer shape (`status`, `alerts[]` with `status`, `labels`, `annotations`,
`startsAt`, `endsAt`, `fingerprint`, …); Grafana adds `orgId`, `title`, `state`, `message`
and per-alert URLs. Anything malformed raises `PayloadError` with the place at fault.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from incidents.models import Severity

MAX_ALERTS = 500
TITLE_MAX = 120
DESCRIPTION_MAX = 4000
_SPACE = re.compile(r"\s+")


class PayloadError(ValueError):
    pass


@dataclass(frozen=True)
class AlertIn:
    fingerprint: str
    status: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @property
    def title(self) -> str:
        text = self.annotations.get("summary") or self.labels.get("alertname") or "Alert"
        line = _SPACE.sub(" ", clean_text(text)).strip() or "Alert"
        return line if len(line) <= TITLE_MAX else line[: TITLE_MAX - 1] + "…"

    @property
    def description(self) -> str:
        return clean_text(self.annotations.get("description", "")).strip()[:DESCRIPTION_MAX]

    @property
    def component_slug(self) -> str:
        return (self.labels.get("component") or self.labels.get("service") or "").strip().lower()


def clean_text(text: str) -> str:
    """Drop control characters (they cannot travel in XML feeds or PostgreSQL text); keep newlines and tabs."""
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cs"))


def parse(body: bytes, *, source: str) -> list[AlertIn]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"The body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PayloadError("The body must be a JSON object.")
    if source == "alertmanager" and "version" in data and str(data["version"]) != "4":
        raise PayloadError(f'Unsupported Alertmanager webhook version {data["version"]!r} (expected "4").')
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("`alerts` must be a list.")
    if len(alerts) > MAX_ALERTS:
        raise PayloadError(f"At most {MAX_ALERTS} alerts per request.")
    group_key = data.get("groupKey") if isinstance(data.get("groupKey"), str) else ""
    return [_alert(item, index=n, group_key=group_key) for n, item in enumerate(alerts)]


def _alert(item, *, index: int, group_key: str) -> AlertIn:
    where = f"alerts[{index}]"
    if not isinstance(item, dict):
        raise PayloadError(f"{where} must be an object.")
    status = item.get("status")
    if status not in ("firing", "resolved"):
        raise PayloadError(f'{where}.status must be "firing" or "resolved".')
    labels = _strings(item.get("labels", {}), f"{where}.labels")
    annotations = _strings(item.get("annotations", {}), f"{where}.annotations")
    fingerprint = item.get("fingerprint")
    if fingerprint is not None and not isinstance(fingerprint, str):
        raise PayloadError(f"{where}.fingerprint must be a string.")
    if not fingerprint:
        # Without one, the alert's identity is its label set (what Alertmanager hashes too), within its group.
        fingerprint = hashlib.sha256(json.dumps([group_key, sorted(labels.items())]).encode()).hexdigest()[:32]
    return AlertIn(
        fingerprint=fingerprint[:128],
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=_time(item.get("startsAt")),
        ends_at=_time(item.get("endsAt")),
    )


def _strings(value, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise PayloadError(f"{where} must be an object.")
    out = {}
    for key, item in value.items():
        if not isinstance(item, str | int | float) or isinstance(item, bool):
            raise PayloadError(f"{where}.{key} must be a string.")
        out[str(key)] = str(item)
    return out


def _time(value) -> datetime | None:
    """RFC 3339 from Go (nanoseconds allowed); Go's zero time `0001-01-01T00:00:00Z` means unset."""
    if not isinstance(value, str) or value.startswith("0001-"):
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def severity_map(setting: str) -> dict[str, Severity]:
    """`critical:sev-2,warning:sev-3` → {"critical": sev-2, …}; entries that are not `label:sev-N` are skipped."""
    mapping: dict[str, Severity] = {}
    for entry in setting.split(","):
        label, _, severity = entry.partition(":")
        if severity.strip() in Severity.values and label.strip():
            mapping[label.strip().lower()] = Severity(severity.strip())
    return mapping
