"""The one-line grammar of `/maintenance` (SPEC §8), pure: text → intent, no database, no Slack.

    /maintenance [internal:] <start> <duration | end> <title> [+slug …]

- start: `2026-12-05 14:00` (in TIME_ZONE), `today 14:00`, `tomorrow 09:30`, or one ISO 8601
  token (`2026-12-05T14:00+01:00`, `2026-12-05T13:00Z`; without an offset it is in TIME_ZONE);
- then a duration (`90m`, `2h`, `1h30m`, `1d`) or an end: `16:00` (the same day, or the next
  day when earlier than the start), `2026-12-06 02:00`, or an ISO 8601 token;
- the title, then trailing `+slug` tokens naming the components (a `+word` inside the title is title text).
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^(?P<h>\d{1,2}):(?P<m>\d{2})$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE)
_DURATION = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?:in)?)?$", re.IGNORECASE)
_SLUG = re.compile(r"^\+[a-z0-9][a-z0-9_-]*$", re.IGNORECASE)
MAX_DURATION = timedelta(days=31)
INTERNAL_PREFIX = "internal:"
USAGE = (
    "`[internal:] <start> <duration|end> <title> [+component …]`, e.g. `2026-12-05 14:00 2h Catalyst upgrade +catalyst`"
)


class MaintenanceTextError(ValueError):
    """The text is not a maintenance line; the message says why (plain text, user words quoted)."""


@dataclass(frozen=True)
class MaintenanceIntent:
    title: str
    scheduled_for: datetime
    scheduled_until: datetime
    component_slugs: tuple[str, ...] = ()
    internal: bool = False


def parse_maintenance(text: str, *, tz: tzinfo, today: date) -> MaintenanceIntent:
    tokens = (text or "").split()
    internal = bool(tokens) and tokens[0].lower() == INTERNAL_PREFIX
    if internal:
        tokens = tokens[1:]
    if not tokens:
        raise MaintenanceTextError(f"Say when and what: {USAGE}.")
    start, used = _moment(tokens, tz=tz, today=today)
    if start is None:
        raise MaintenanceTextError(
            f"“{tokens[0]}” is not a start time. Use `2026-12-05 14:00`, `tomorrow 14:00` or ISO 8601 "
            "with an offset (`2026-12-05T14:00+01:00`)."
        )
    tokens = tokens[used:]
    if not tokens:
        raise MaintenanceTextError("Say how long it lasts (`90m`, `2h`) or when it ends (`16:00`), then the title.")
    end, used = _end(tokens, start=start, tz=tz, today=today)
    if end is None:
        raise MaintenanceTextError(
            f"“{tokens[0]}” is neither a duration (`90m`, `2h`, `1h30m`) nor an end time (`16:00`, `2026-12-06 02:00`)."
        )
    if end <= start:
        raise MaintenanceTextError("The maintenance must end after it starts.")
    if end - start > MAX_DURATION:
        raise MaintenanceTextError("A maintenance window can last at most 31 days.")
    tokens = tokens[used:]
    slugs: list[str] = []
    while tokens and _SLUG.match(tokens[-1]):
        slugs.insert(0, tokens.pop()[1:].lower())
    title = " ".join(tokens)
    if not title:
        raise MaintenanceTextError("A maintenance needs a title after its window, e.g. `… 2h Catalyst upgrade`.")
    return MaintenanceIntent(
        title=title, scheduled_for=start, scheduled_until=end, component_slugs=tuple(slugs), internal=internal
    )


def parse_duration(word: str) -> timedelta | None:
    """`90m`, `2h`, `1h30m`, `1d`, `45min` → timedelta; None when `word` is not a (positive) duration."""
    match = _DURATION.match(word or "")
    if not match or not any(match.groupdict().values()):
        return None
    parts = {k: int(v or 0) for k, v in match.groupdict().items()}
    value = timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"])
    return value if value > timedelta(0) else None


def _moment(tokens: list[str], *, tz: tzinfo, today: date) -> tuple[datetime | None, int]:
    """A point in time at the start of `tokens` and how many tokens it took."""
    first = tokens[0]
    if _ISO.match(first):
        try:
            value = datetime.fromisoformat(first.upper().replace("Z", "+00:00"))
        except ValueError:
            return None, 0
        return (value if value.tzinfo else value.replace(tzinfo=tz)), 1
    day = None
    if _DATE.match(first):
        try:
            day = date.fromisoformat(first)
        except ValueError:
            return None, 0
    elif first.lower() in ("today", "tomorrow"):
        day = today + timedelta(days=1 if first.lower() == "tomorrow" else 0)
    if day is None or len(tokens) < 2:
        return None, 0
    clock = _clock(tokens[1])
    if clock is None:
        return None, 0
    return datetime.combine(day, clock, tzinfo=tz), 2


def _end(tokens: list[str], *, start: datetime, tz: tzinfo, today: date) -> tuple[datetime | None, int]:
    duration = parse_duration(tokens[0])
    if duration is not None:
        return start + duration, 1
    clock = _clock(tokens[0])
    if clock is not None:
        local = start.astimezone(tz)
        end = datetime.combine(local.date(), clock, tzinfo=tz)
        if end <= local:
            end += timedelta(days=1)
        return end, 1
    return _moment(tokens, tz=tz, today=today)


def _clock(word: str) -> time | None:
    match = _TIME.match(word)
    if not match:
        return None
    hour, minute = int(match["h"]), int(match["m"])
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)
