"""The postmortem draft: built from a seeded incident's timeline, checked field by field; staff-only download."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from incidents import services
from incidents.models import Severity, Source, Status, Visibility
from incidents.postmortem import TO_FILL, postmortem_draft
from incidents.tests.factories import make_component

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def seeded():
    """DCL-N: reported 09:00 by U0REPORTER, acked 09:07 by Ada, an internal note, monitoring, resolved 10:30."""
    market = make_component("Marketplace", position=1)
    builder = make_component("Builder", position=2)
    services.person_set_display_name(slack_id="U0POINT", display_name="Ada Point")
    services.person_set_display_name(slack_id="U0REPORTER", display_name="Rita Reporter")
    with time_machine.travel(T0, tick=False):
        incident = services.incident_create(
            title="Marketplace | listings *missing*",
            description="Listings do not load.\nBuyers see an empty page.",
            severity=Severity.SEV2,
            components=[market, builder],
            contact="U0CONTACT",
            author="U0REPORTER",
            source=Source.SLACK,
        )
    with time_machine.travel(T0 + timedelta(minutes=7), tick=False):
        services.incident_acknowledge(incident_id=incident.pk, author="U0POINT", source=Source.SLACK)
    with time_machine.travel(T0 + timedelta(minutes=12), tick=False):
        services.incident_add_note(
            incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="Suspect the indexer"
        )
    with time_machine.travel(T0 + timedelta(minutes=40), tick=False):
        services.incident_update(
            incident_id=incident.pk,
            author="staff:bob",
            source=Source.ADMIN,
            status=Status.MONITORING,
            message="Fix deployed",
        )
    with time_machine.travel(T0 + timedelta(minutes=90), tick=False):
        services.incident_resolve(
            incident_id=incident.pk,
            author="U0POINT",
            source=Source.SLACK,
            message="All good",
            rca_link="https://wiki.example.com/rca/1",
        )
    incident.refresh_from_db()
    return incident


def sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = "_head"
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:]
            out[current] = []
        elif line.strip():
            out.setdefault(current, []).append(line)
    return out


def test_draft_of_a_seeded_incident_field_by_field(seeded):
    k = seeded.key
    text = postmortem_draft(seeded, base_url="https://status.example.com", generated_at=T0 + timedelta(days=1))
    s = sections(text)
    assert s["_head"][0] == f"# Postmortem: {k} Marketplace \\| listings \\*missing\\*"
    assert "2026-12-01 09:00 UTC" in s["_head"][1]
    assert s["Summary"] == [
        f"- **Incident:** [{k}](<https://status.example.com/incidents/{k}>)",
        "- **Title:** Marketplace \\| listings \\*missing\\*",
        "- **Severity:** sev-2 (Critical, impacting some users)",
        "- **Status:** Resolved",
        "- **Visibility:** Public",
        "- **Components:** Marketplace, Builder",
        "- **RCA:** [Root-cause analysis](<https://wiki.example.com/rca/1>)",
    ]
    assert s["People"] == [
        "- **Point:** Ada Point",
        "- **Contact:** Slack user U0CONTACT",
        "- **Reported by:** Rita Reporter",
        "- **Took part:** Rita Reporter, Ada Point, bob (admin)",
    ]
    assert s["Timing"] == [
        "- **Reported:** 2026-11-30 09:00 UTC",
        "- **Acknowledged:** 2026-11-30 09:07 UTC (time to acknowledge: 7m)",
        "- **Monitoring:** 2026-11-30 09:40 UTC (time to mitigate: 40m)",
        "- **Resolved:** 2026-11-30 10:30 UTC (time to resolve: 1h 30m)",
    ]
    assert s["Impact"] == [
        "Critical, impacting some users (sev-2; status page impact: major), affecting Marketplace, Builder, "
        "for 1h 30m.",
        "> Listings do not load.",
        "> Buyers see an empty page.",
    ]
    assert s["Timeline"] == [
        "- **#1** 2026-11-30 09:00 UTC · Rita Reporter · public · Investigating — Reported",
        "- **#2** 2026-11-30 09:07 UTC · Ada Point · public · Investigating — point: Ada Point",
        "- **#3** 2026-11-30 09:12 UTC · Ada Point · internal · Investigating — Suspect the indexer",
        "- **#4** 2026-11-30 09:40 UTC · bob (admin) · public · Monitoring — status: investigating → monitoring"
        " — Fix deployed",
        "- **#5** 2026-11-30 10:30 UTC · Ada Point · public · Resolved — status: monitoring → resolved;"
        " rca link: https://wiki.example.com/rca/1 — All good",
    ]
    for empty in ("Root cause", "What went well", "What went wrong"):
        assert s[empty] == [TO_FILL]
    assert s["Action items"][0] == "| Action | Owner | Due | Ticket |"


def test_internal_incident_has_no_public_link_and_says_so(seeded):
    services.incident_update(
        incident_id=seeded.pk, author="U0POINT", source=Source.SLACK, visibility=Visibility.INTERNAL
    )
    seeded.refresh_from_db()
    text = postmortem_draft(seeded, base_url="https://status.example.com", generated_at=T0)
    assert "status.example.com" not in text
    assert "- **Visibility:** Internal (never on the status page)" in text


def test_open_incident_leaves_resolution_blank():
    incident = services.incident_create(title="Open one", author="U0REPORTER", source=Source.SLACK)
    s = sections(postmortem_draft(incident, generated_at=T0))
    assert "- **Acknowledged:** —" in s["Timing"]
    assert "- **Resolved:** —" in s["Timing"]
    assert "- **Point:** Not assigned" in s["People"]


def test_admin_download_for_staff(staff_client, seeded):
    page = staff_client.get(f"/admin/incidents/incident/{seeded.pk}/change/")
    url = f"/admin/incidents/incident/{seeded.pk}/postmortem/"
    assert url in page.content.decode()
    response = staff_client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{seeded.key}-postmortem.md"'
    assert response["Content-Type"].startswith("text/markdown")
    body = response.content.decode()
    assert "Suspect the indexer" in body  # internal notes are in the staff draft
    assert "## Root cause" in body


def test_admin_download_needs_staff_and_view_permission(client, django_user_model, seeded):
    url = f"/admin/incidents/incident/{seeded.pk}/postmortem/"
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert "/admin/login/" in anonymous["Location"]
    clerk = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(clerk)
    assert client.get(url).status_code == 403
    assert "Suspect the indexer" not in client.get(url).content.decode()


def test_admin_download_of_unknown_incident_is_404(staff_client):
    assert staff_client.get("/admin/incidents/incident/999999/postmortem/").status_code == 404
    assert staff_client.get("/admin/incidents/incident/abc/postmortem/").status_code == 404


def test_no_public_surface_serves_the_draft(client, seeded):
    for path in (f"/incidents/{seeded.key}", "/list", "/api/v2/incidents.json", "/history.atom"):
        body = client.get(path).content.decode()
        assert "Suspect the indexer" not in body
        assert "Postmortem" not in body
    assert client.get(f"/incidents/{seeded.key}/postmortem").status_code == 404
