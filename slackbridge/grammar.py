"""The one-line grammar of the slash commands: text in, an intent out (SPEC §3). Pure: no Django.

Everything here works on strings, so it is tested without a database or a request. The
execution side (`slackbridge/commands.py`) holds the table of update actions, one `Action`
row per action, and hands it to `parse_update`; help, suggestions and dispatch are all
derived from that table.

Adding an action (e.g. `/update-incident DCL-12 channel`, or `start|verify|complete|cancel`)
is one row in `commands.UPDATE_ACTIONS`::

    Action(
        name="channel",                 # the intent's `action`
        words=("channel",),             # first words that select it (lower case)
        parse=grammar.parse_word,       # (word, rest) -> intent fields; raise GrammarError on bad input
        run=_open_channel,              # executor: (intent, cmd, incident) -> reply text (mrkdwn)
        usage="channel",                # shown after `<key>` in help
        help="open a channel for this incident",
        alone=True,                     # acts only as the whole rest; "channel is flaky" stays a message
    )

No registration elsewhere: the help text, the manifest's usage hint and the dispatcher read
the table. Words must not collide with another row's words (a test checks).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The vocabularies of incidents.models, repeated here so this module stays free of Django
# (slackbridge/tests/test_grammar.py checks they match the models).
STATUSES = ("investigating", "identified", "monitoring", "resolved", "invalid")
SEVERITIES = ("sev-1", "sev-2", "sev-3", "sev-4", "sev-5")
DEFAULT_SEVERITY = "sev-3"

FORM = "form"  # the key alone: open the update form
MESSAGE = "message"  # anything not matched by a word: a public update
INTERNAL_PREFIX = "internal:"

_SEVERITY = re.compile(r"^\[?sev[-_ ]?(?P<n>\d+)\]?$", re.IGNORECASE)
_FIRST_WORD = re.compile(r"^\s*(?P<word>\S+)\s*(?P<rest>.*)$", re.DOTALL)
_KEY = re.compile(r"^\s*#?(?:(?P<prefix>[A-Za-z]+)-)?(?P<id>\d{1,12})\s*$")
_SLUG_TOKEN = re.compile(r"^\+(?P<slug>[A-Za-z0-9_-]+)$")
_SLUG = re.compile(r"^[A-Za-z0-9_-]+$")
# Slack's markup in slash-command text: <@U1|name>, <#C1|name>, <!here>, <url|label>, and &amp; &lt; &gt;.
_SLACK_MARKUP = re.compile(r"<(?P<inner>[^<>]*)>|&(?P<entity>amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}


class GrammarError(Exception):
    """Input we cannot act on; the message says why (mrkdwn, user text already escaped)."""


# -- Slack's escaping, undone at the edge --------------------------------------------------------------------
def unescape(text: str, *, name_of: Callable[[str], str | None] = lambda _id: None) -> str:
    """What the person typed, from the text Slack sent (SPEC §3).

    `&amp;` `&lt;` `&gt;` → `& < >`; `<@U1|alice>` → `@alice`; `<@U1>` → `@` + `name_of("U1")`, else
    `@someone` (never the id); `<#C1|general>` → `#general`; `<!here>` → `@here`;
    `<!subteam^S1|@oncall>` → `@oncall`; `<https://x|label>` → `https://x`. One pass, so an
    escaped `&lt;@U1&gt;` typed as text stays the text `<@U1>`.
    """

    def replace(match: re.Match) -> str:
        if match.group("entity"):
            return _ENTITIES[match.group("entity")]
        inner = match.group("inner")
        target, _, label = inner.partition("|")
        target, label = _entities(target), _entities(label)
        if target.startswith("@"):
            if label:
                return "@" + label.removeprefix("@")
            name = name_of(target[1:])
            return f"@{name}" if name else "@someone"
        if target.startswith("#"):
            return "#" + (label.removeprefix("#") or "channel")
        if target.startswith("!subteam^") and label:
            return "@" + label.removeprefix("@")
        if target.startswith("!"):
            special = target[1:].split("^")[0]
            if special in ("here", "channel", "everyone"):
                return f"@{special}"
            return label or "@someone"
        return target  # a link: the URL itself

    return _SLACK_MARKUP.sub(replace, text or "")


def _entities(text: str) -> str:
    return re.sub(r"&(amp|lt|gt);", lambda m: _ENTITIES[m.group(1)], text)


def escape(text: str) -> str:
    """Escape for mrkdwn (the three characters Slack treats as control characters)."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """User text shown inside backticks: escaped, and without backticks that would end the span."""
    return escape(text).replace("`", "'")


# -- words ---------------------------------------------------------------------------------------------------
def split_first(text: str) -> tuple[str, str]:
    match = _FIRST_WORD.match(text or "")
    if not match:
        return "", ""
    return match.group("word"), match.group("rest").strip()


def parse_severity(word: str) -> str | None:
    """`sev-2`, `SEV2`, `sev_2`, `[sev-2]` → `sev-2`; None if `word` is not a severity at all.

    Raises `GrammarError` for a severity-shaped word with no such level (`sev-9`).
    """
    match = _SEVERITY.match(word)
    if not match:
        return None
    value = f"sev-{int(match.group('n'))}"
    if value not in SEVERITIES:
        raise GrammarError(f"There is no severity `{code(word)}`: use sev-1 (worst) to sev-5.")
    return value


def parse_key(word: str, *, prefix: str) -> int | None:
    """`DCL-12`, `dcl-12`, `#12` or `12` → 12; anything else (or another prefix) → None."""
    match = _KEY.match(word or "")
    if not match:
        return None
    given = match.group("prefix")
    if given and given.upper() != prefix.upper():
        return None
    return int(match.group("id"))


def normalise(word: str) -> str:
    """The form a table word is matched in: lower case, a trailing `:` or `,` dropped, severities as `sev-N`."""
    return parse_severity(word) or word.lower().rstrip(":,")


# -- /create-incident ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CreateIntent:
    title: str
    severity: str = DEFAULT_SEVERITY
    internal: bool = False
    slugs: tuple[str, ...] = ()


def parse_create(text: str, *, title_max: int = 120) -> CreateIntent:
    """`[internal:] [sev-N] <title> [+slug …]`; severity sev-3 when not given.

    Only the trailing `+word` tokens name components: a `+50%` inside the title is title text.
    """
    words = (text or "").split()
    internal = bool(words) and words[0].lower() == INTERNAL_PREFIX
    if internal:
        words = words[1:]
    severity = parse_severity(words[0]) if words else None
    if severity:
        words = words[1:]
    slugs: list[str] = []
    while words and (match := _SLUG_TOKEN.match(words[-1])):
        slugs.insert(0, match.group("slug").lower())
        words.pop()
    title = " ".join(words)
    if not title:
        raise GrammarError("An incident needs a title.")
    if len(title) > title_max:
        raise GrammarError(
            f"The title is {len(title)} characters; the limit is {title_max}. Shorten it, or run the "
            "command with no text to open the form, whose description takes the details."
        )
    return CreateIntent(
        title=title, severity=severity or DEFAULT_SEVERITY, internal=internal, slugs=tuple(dict.fromkeys(slugs))
    )


# -- /update-incident ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UpdateIntent:
    incident_id: int
    action: str  # the `name` of an Action row
    value: Any = ""
    message: str = ""


Parser = Callable[[str, str], Mapping[str, Any]]


@dataclass(frozen=True)
class Action:
    """One update action: everything about it in one row (see the module docstring)."""

    name: str
    words: tuple[str, ...]
    parse: Parser
    run: Any  # the executor; called by the execution side only
    usage: str
    help: str
    alone: bool = False
    fuzzy: bool = False  # near misses of these words (5+ letters) get "did you mean …?"
    hints: Mapping[str, str] = field(default_factory=dict)  # words people reach for → the word meant


def parse_update(text: str, *, actions: Sequence[Action], prefix: str) -> UpdateIntent:
    """`<key> <word> …` → the intent of the row whose words hold `word`; otherwise a public message."""
    key, rest = split_first(text)
    incident_id = parse_key(key, prefix=prefix)
    if incident_id is None:
        if not key:
            raise GrammarError("Say which incident: its key, like `DCL-12`, or just `12`.")
        raise GrammarError(f"`{code(key)}` is not an incident key. Start with the key, like `{prefix}-12` or `12`.")
    if not rest:
        return UpdateIntent(incident_id, FORM)
    word, after = split_first(rest)
    normal = normalise(word)
    for action in actions:
        if normal in action.words and not (action.alone and after):
            return UpdateIntent(incident_id, action.name, **action.parse(normal, after))
    suggestion = suggest(normal, actions)
    if suggestion:
        raise GrammarError(
            f"`{code(word)}` is not a command here: did you mean *{suggestion}*? Nothing was changed. "
            f"To post text starting with that word as a message, write `message {code(rest)}`."
        )
    return UpdateIntent(incident_id, MESSAGE, **parse_message(MESSAGE, rest))


def suggest(word: str, actions: Sequence[Action]) -> str | None:
    """The word a near miss probably meant (`monitring`, `resolve`, `fixed`); None if nothing close.

    Only rows marked `fuzzy` are compared, and only words of five letters or more, so
    ordinary words starting a message are never taken for a command.
    """
    for action in actions:
        if word in action.hints:
            return action.hints[word]
    if len(word) < 5 or not word.isalpha():
        return None
    candidates = [w for action in actions if action.fuzzy for w in action.words]
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.85)
    return close[0] if close else None


# Parsers: (the matched word, normalised; the text after it) → fields of UpdateIntent.
def parse_status(word: str, rest: str) -> dict:
    return {"value": word, "message": rest}


def parse_severity_change(word: str, rest: str) -> dict:
    return {"value": word, "message": rest}


def parse_rca(word: str, rest: str) -> dict:
    url = rest.strip().strip("<>").split("|")[0].strip()
    if not url or " " in url:
        raise GrammarError("`rca` needs one link: `rca https://…`.")
    return {"value": url}


def parse_optional_message(word: str, rest: str) -> dict:
    return {"message": rest}


def parse_note(word: str, rest: str) -> dict:
    if not rest:
        raise GrammarError("`note` needs some text: `note <text>`.")
    return {"message": rest}


def parse_message(word: str, rest: str) -> dict:
    if not rest:
        raise GrammarError("`message` needs some text.")
    return {"message": rest}


def parse_affects(word: str, rest: str) -> dict:
    """`affects marketplace,builder` (commas and/or spaces, `+` allowed) or `affects none`: a tuple of slugs."""
    tokens = [t.strip().removeprefix("+").lower() for t in re.split(r"[\s,]+", rest) if t.strip()]
    if not tokens:
        raise GrammarError("`affects` needs component slugs, like `affects marketplace,builder`, or `affects none`.")
    if tokens == ["none"]:
        return {"value": ()}
    bad = [t for t in tokens if not _SLUG.match(t)]
    if bad:
        raise GrammarError(f"`{code(bad[0])}` is not a component slug (letters, digits, `-` and `_`).")
    return {"value": tuple(dict.fromkeys(tokens))}


def parse_word(word: str, rest: str) -> dict:
    """For words that act alone (`internal`, `public`, …): the word itself is the value."""
    return {"value": word}
