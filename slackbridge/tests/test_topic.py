"""The channel topic: fits Slack's 250 characters whatever the titles, most severe first."""

import pytest

from incidents import services
from incidents.models import Source
from slackbridge.blocks.messages import ALL_CLEAR_TOPIC, TOPIC_MAX, TopicItem, channel_topic, slack_len
from slackbridge.sync import build_topic

SEVERITY_EMOJI = [":one:", ":two:", ":three:", ":four:", ":five:"]
LONG_TITLES = [
    "Marketplace 🛒 checkout fails for wallets connected through WalletConnect — users see ‘transaction rejected’",
    "Catalyst ノード同期が遅延しています、コンテンツサーバーの応答なし、再起動中です、しばらくお待ちください",
    "Ünïcödé tïtlé wïth cömbïnïng märks and 👩‍👩‍👧‍👦 family emoji & <angle> brackets that go on and on and on",
]


def items(n):
    return [
        TopicItem(severity=f"sev-{(i * 3) % 5 + 1}", key=f"DCL-{1000 + i}", title=LONG_TITLES[i % 3] + f" #{i}")
        for i in range(n)
    ]


def severities(topic):
    order = []
    for line in topic.split("\n"):
        for i, emoji in enumerate(SEVERITY_EMOJI):
            if line.startswith(emoji):
                order.append(i)
    return order


@pytest.mark.parametrize("n", [0, 1, 5, 30])
def test_topic_fits_and_is_in_severity_order(n):
    topic = channel_topic(items(n))
    assert slack_len(topic) <= TOPIC_MAX
    assert len(topic) <= TOPIC_MAX
    if n == 0:
        assert topic == ALL_CLEAR_TOPIC
        return
    order = severities(topic)
    assert order == sorted(order)
    assert order[0] == 0  # the most severe is always shown
    lines = topic.split("\n")
    if n == 1:
        assert lines[0].startswith(":one: DCL-1000 Marketplace 🛒 checkout")
    if n == 5:
        assert len(lines) == 5  # all shown, titles cut fairly
        assert all(line.endswith("…") for line in lines)
        assert max(map(slack_len, lines)) - min(map(slack_len, lines)) <= 3
    if n == 30:
        assert lines[-1].startswith("+")
        assert lines[-1].endswith("more open incidents")
        shown = len(lines) - 1
        assert int(lines[-1].split()[0][1:]) == 30 - shown


def test_short_titles_stay_whole_and_long_ones_share_the_rest():
    topic = channel_topic(
        [
            TopicItem("sev-1", "DCL-1", "DB down"),
            TopicItem("sev-2", "DCL-2", "x" * 400),
            TopicItem("sev-3", "DCL-3", "ok"),
        ]
    )
    lines = topic.split("\n")
    assert lines[0] == ":one: DCL-1 DB down"
    assert lines[2] == ":three: DCL-3 ok"
    assert lines[1].endswith("x…")
    assert slack_len(topic) == TOPIC_MAX


def test_cut_never_splits_an_emoji_sequence_or_an_escape():
    family = "👩‍👩‍👧‍👦"
    for pad in range(0, 40):
        title = "a" * pad + family * 60 + " & more"
        topic = channel_topic([TopicItem("sev-1", "DCL-1", title), TopicItem("sev-2", "DCL-2", "&" * 300)])
        assert slack_len(topic) <= TOPIC_MAX
        first, second = topic.split("\n")
        body = first.removeprefix(":one: DCL-1 ").removesuffix("…").removeprefix("a" * pad)
        assert body.replace(family, "") == ""
        assert second.removeprefix(":two: DCL-2 ").removesuffix("…").replace("&amp;", "") == ""


def test_mentions_in_titles_are_escaped():
    topic = channel_topic([TopicItem("sev-1", "DCL-1", "<!channel> ping")])
    assert topic == ":one: DCL-1 &lt;!channel&gt; ping"


@pytest.mark.django_db
def test_topic_from_the_database_has_open_incidents_only():
    a = services.incident_create(title="Minor", severity="sev-4", author="U0A1", source=Source.SLACK)
    b = services.incident_create(title="Major", severity="sev-1", author="U0A1", source=Source.SLACK)
    c = services.incident_create(title="Gone", severity="sev-1", author="U0A1", source=Source.SLACK)
    services.incident_resolve(incident_id=c.pk, author="U0A1", source=Source.SLACK)
    assert build_topic() == f":one: DCL-{b.pk} Major\n:four: DCL-{a.pk} Minor"
