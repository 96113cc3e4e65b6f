"""The pure grammar: text → intent, Slack's escaping undone, with the real action table."""

import ast
from pathlib import Path

import pytest

from incidents.models import INCIDENT_STATUSES, Severity
from slackbridge import grammar
from slackbridge.commands import UPDATE_ACTIONS
from slackbridge.grammar import CreateIntent, GrammarError, parse_create, unescape


def parse_update(text: str):
    return grammar.parse_update(text, actions=UPDATE_ACTIONS, prefix="DCL")


def test_grammar_imports_no_django():
    tree = ast.parse(Path(grammar.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m and (m.startswith(("django", "incidents", "slackbridge")))}


def test_vocabulary_matches_the_models():
    assert grammar.STATUSES == tuple(INCIDENT_STATUSES)  # maintenance statuses have their own words
    assert grammar.SEVERITIES == tuple(Severity.values)


def test_interactions_do_not_import_commands():
    source = (Path(grammar.__file__).parent / "interactions.py").read_text()
    assert "slackbridge.commands" not in source
    assert "from slackbridge import commands" not in source


def test_table_words_do_not_collide():
    words = [w for action in UPDATE_ACTIONS for w in action.words]
    assert len(words) == len(set(words))
    assert len({a.name for a in UPDATE_ACTIONS}) == len(UPDATE_ACTIONS)


# -- /create-incident ----------------------------------------------------------------------------------------
def test_parse_create():
    assert parse_create("  sev-4   Spaces   everywhere ") == parse_create("SEV4 Spaces everywhere")
    assert parse_create("Severe outage") == CreateIntent("Severe outage", "sev-3")
    with pytest.raises(GrammarError):
        parse_create("")


def test_create_trailing_slugs_are_components_inside_they_are_title():
    intent = parse_create("sev-2 Marketplace down +50% errors +Marketplace +builder")
    assert intent == CreateIntent("Marketplace down +50% errors", "sev-2", slugs=("marketplace", "builder"))
    assert parse_create("Error rate +50%").slugs == ()
    with pytest.raises(GrammarError, match="needs a title"):
        parse_create("sev-2 +marketplace")


def test_create_internal_prefix():
    intent = parse_create("internal: sev-2 DNS resolver flapping")
    assert (intent.internal, intent.severity, intent.title) == (True, "sev-2", "DNS resolver flapping")
    assert parse_create("internal DNS is flapping").internal is False  # without its colon it is title text
    assert parse_create("internal DNS is flapping").title == "internal DNS is flapping"


# -- /update-incident ----------------------------------------------------------------------------------------
def test_parse_update_forms():
    assert parse_update("12").action == grammar.FORM
    assert parse_update("DCL-12 Identified: root cause found").value == "identified"
    assert parse_update("12 acknowledge").action == "ack"
    assert parse_update("12 ack on it").message == "on it"
    assert parse_update("12 rca https://x.example/rca").value == "https://x.example/rca"
    assert parse_update("12 the site is up again").message == "the site is up again"
    assert parse_update("12 SEV1 worse").value == "sev-1"


@pytest.mark.parametrize(
    ("text", "slugs"),
    [
        ("12 affects marketplace,builder", ("marketplace", "builder")),
        ("12 affects marketplace, +Builder", ("marketplace", "builder")),
        ("12 affects none", ()),
    ],
)
def test_parse_affects(text, slugs):
    intent = parse_update(text)
    assert (intent.action, intent.value) == ("affects", slugs)


def test_affects_needs_slugs():
    with pytest.raises(GrammarError, match="needs component slugs"):
        parse_update("12 affects")


@pytest.mark.parametrize("word", ["internal", "public", "Internal", "PUBLIC"])
def test_visibility_words_act_only_alone(word):
    intent = parse_update(f"12 {word}")
    assert (intent.action, intent.value) == ("visibility", word.lower())
    message = parse_update(f"12 {word} API back")
    assert (message.action, message.message) == (grammar.MESSAGE, f"{word} API back")


def test_other_prefix_is_not_a_key():
    with pytest.raises(GrammarError, match="not an incident key"):
        parse_update("XYZ-1 resolved")


@pytest.mark.parametrize(
    ("word", "expected"),
    [("monitring", "monitoring"), ("resolvd", "resolved"), ("investigatin", "investigating"), ("we", None)],
)
def test_suggest(word, expected):
    assert grammar.suggest(word, UPDATE_ACTIONS) == expected


# -- Slack's escaping ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sent", "typed"),
    [
        ("Login &amp; signup &lt;3", "Login & signup <3"),
        ("&amp;lt; stays", "&lt; stays"),
        ("ping <@U123|alice> and <@U9>", "ping @alice and @someone"),
        ("in <#C123|general>", "in #general"),
        ("see <https://x.example/a?b=1&amp;c=2|the doc>", "see https://x.example/a?b=1&c=2"),
        ("<https://x.example>", "https://x.example"),
        ("<!here> <!channel> <!everyone> <!subteam^S1|@oncall>", "@here @channel @everyone @oncall"),
        ("&lt;@U1&gt; typed", "<@U1> typed"),
    ],
)
def test_unescape(sent, typed):
    assert unescape(sent) == typed


def test_unescape_bare_mention_uses_the_stored_name_never_the_id():
    assert unescape("<@U123> is on it", name_of={"U123": "Ada"}.get) == "@Ada is on it"
    assert "U404" not in unescape("<@U404>", name_of={}.get)
