"""Pure Block Kit builders: what the headline and thread replies show (no database, no network)."""

from datetime import UTC, datetime, timedelta

from incidents.models import Incident, IncidentUpdate
from slackbridge.blocks.messages import escape, format_duration, headline, thread_reply

REPORTED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def incident(**kwargs):
    fields = {
        "id": 42,
        "title": "Marketplace down",
        "severity": "sev-2",
        "status": "investigating",
        "visibility": "public",
        "reported_at": REPORTED,
        "point": "U0POINT",
        "contact": "",
        "update_number": 3,
    }
    fields.update(kwargs)
    return Incident(**fields)


def fields_of(message):
    return {f["text"].split("\n")[0].strip("*"): f["text"].split("\n", 1)[1] for f in message["blocks"][1]["fields"]}


def test_headline_shows_every_field_and_the_buttons():
    message = headline(incident(rca_link="https://example.com/rca?a=1&b=2"), components=["Marketplace", "Catalyst"])
    assert message["blocks"][0]["text"]["text"] == "DCL-42 Marketplace down"
    fields = fields_of(message)
    assert fields["Severity"] == ":two: *sev-2* · Critical, impacting some users"
    assert fields["Status"] == ":mag: Investigating"
    assert fields["Point"] == "<@U0POINT>"
    assert fields["Contact"] == "Not assigned"
    assert fields["Components"] == "Marketplace, Catalyst"
    assert fields["Reported"].startswith(f"<!date^{int(REPORTED.timestamp())}^")
    assert fields["RCA"] == "<https://example.com/rca?a=1&amp;b=2|Root-cause analysis>"
    assert "Duration" not in fields
    buttons = message["blocks"][-1]["elements"]
    assert [(b["text"]["text"], b["action_id"], b["value"]) for b in buttons] == [
        ("Acknowledge", "incident_acknowledge", "42"),
        ("Update", "incident_update", "42"),
        ("Resolve", "incident_resolve", "42"),
        ("Open channel", "incident_open_channel", "42"),
    ]
    assert message["text"] == "DCL-42 [sev-2] Marketplace down — Investigating"


def test_headline_with_its_own_channel_links_it_instead_of_the_button():
    message = headline(incident(), components=[], channel=("C100000001", "inc-dcl-42-marketplace-down"))
    assert fields_of(message)["Channel"] == "<#C100000001>"
    assert "incident_open_channel" not in [b["action_id"] for b in message["blocks"][-1]["elements"]]
    opening = headline(incident(), components=[], channel=("", ""))
    assert fields_of(opening)["Channel"] == "Opening…"


def test_resolved_headline_shows_duration_update_and_postmortem():
    closed = REPORTED + timedelta(hours=2, minutes=5)
    message = headline(incident(status="resolved", closed_at=closed), components=[])
    fields = fields_of(message)
    assert fields["Status"] == ":white_check_mark: Resolved"
    assert fields["Duration"] == "2h 05m"
    assert fields["Components"] == "None"
    assert [b["action_id"] for b in message["blocks"][-1]["elements"]] == ["incident_update", "incident_postmortem"]


def test_user_text_is_escaped_so_it_pings_nobody():
    message = headline(
        incident(title="<!channel> & <@U123>", point="", point_name="<!here> Bob"), components=["<!everyone>"]
    )
    fields = fields_of(message)
    assert fields["Point"] == "&lt;!here&gt; Bob"
    assert fields["Components"] == "&lt;!everyone&gt;"
    assert "<!channel>" not in message["text"]
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt;" in message["text"]
    # The header block is plain_text: Slack shows it literally, mentions included, without pinging.
    assert message["blocks"][0]["text"]["type"] == "plain_text"


def test_internal_incident_is_marked():
    message = headline(incident(visibility="internal"), components=[])
    assert "Internal incident" in message["blocks"][2]["elements"][0]["text"]


def test_long_title_fits_the_header_block():
    message = headline(incident(title="x" * 120, id=123456789012), components=[])
    assert len(message["blocks"][0]["text"]["text"]) <= 150


def test_thread_reply_public_and_internal():
    entry = IncidentUpdate(
        number=3,
        author="U0POINT",
        status="monitoring",
        message="Fix deployed <!channel>",
        changes={"status": ["identified", "monitoring"]},
        visibility="public",
    )
    assert thread_reply(entry) == (
        "*Update #3* · :eyes: Monitoring · <@U0POINT>\n_Status: identified → monitoring_\nFix deployed &lt;!channel&gt;"
    )
    note = IncidentUpdate(
        number=4, author="staff:alice", status="monitoring", message="Vendor ticket 42", visibility="internal"
    )
    assert thread_reply(note) == ":lock: *Internal note* #4 · alice (admin)\nVendor ticket 42"


def test_format_duration_and_escape():
    assert format_duration(timedelta(seconds=20)) == "< 1m"
    assert format_duration(timedelta(minutes=45)) == "45m"
    assert format_duration(timedelta(days=3, hours=4, minutes=7)) == "3d 4h"
    assert escape("a & <b>") == "a &amp; &lt;b&gt;"
