"""The admin "Incident metrics" page, its CSV download and the incident CSV export action."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from incidents import services
from incidents.admin_views import bar_chart
from incidents.models import Incident, Severity, Source, Status, Visibility
from incidents.tests.factories import make_component, make_incident

pytestmark = pytest.mark.django_db

METRICS_URL = reverse("admin:incidents_incident_metrics")
CHANGELIST_URL = reverse("admin:incidents_incident_changelist")
JAN = {"since": "2025-01-01", "until": "2025-02-28"}


def at(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def two_months():
    """January: a sev-1 acked after 10 min, resolved after 2 h; an open sev-3. February: a sev-2 resolved in 1 h."""
    a = make_incident("Realm down", severity=Severity.SEV1, reported_at=at(2025, 1, 10, 10))
    services.incident_update(
        incident_id=a.pk, author="staff:x", source=Source.ADMIN, acknowledged_at=at(2025, 1, 10, 10, 10)
    )
    services.incident_resolve(incident_id=a.pk, author="U1", source=Source.SLACK, closed_at=at(2025, 1, 10, 12))
    make_incident("Slow <script>alert(1)</script>", severity=Severity.SEV3, reported_at=at(2025, 1, 20))
    b = make_incident("Wallet", severity=Severity.SEV2, reported_at=at(2025, 2, 3, 8), visibility=Visibility.INTERNAL)
    services.incident_update(
        incident_id=b.pk, author="staff:x", source=Source.ADMIN, acknowledged_at=at(2025, 2, 3, 8, 30)
    )
    services.incident_resolve(incident_id=b.pk, author="U1", source=Source.SLACK, closed_at=at(2025, 2, 3, 9))


def table_rows(html: str) -> list[list[str]]:
    table = html.split('id="metrics-table"', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    return [
        [re.sub(r"\s+", " ", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def test_staff_see_the_numbers_in_a_table_and_charts(staff_client, two_months):
    response = staff_client.get(METRICS_URL, JAN)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>Incident metrics" in html
    rows = table_rows(html)
    # month, count, sev-1..5, MTTA n/mean/median/p90, MTTR n/mean/median/p90
    assert " | ".join(rows[0]) == "Jan 2025 | 2 | 1 | 0 | 1 | 0 | 0 | 1 | 10m | 10m | 10m | 1 | 2h 0m | 2h 0m | 2h 0m"
    assert " | ".join(rows[1]) == "Feb 2025 | 1 | 0 | 1 | 0 | 0 | 0 | 1 | 30m | 30m | 30m | 1 | 1h 0m | 1h 0m | 1h 0m"
    assert rows[2][:3] == ["Total", "3", "1"]
    assert rows[2][7:11] == ["2", "20m", "20m", "28m"]
    # Three inline SVG charts, no script anywhere on the page.
    content = html.split('id="content-main"', 1)[1].split('id="footer"', 1)[0]
    assert content.count("<svg") == 3
    assert "Incidents per month by severity" in content
    assert "<script" not in content
    assert "<title>Jan 25: sev-1 1</title>" in html


def test_default_range_is_the_last_twelve_months(staff_client):
    make_incident("Today")
    response = staff_client.get(METRICS_URL)
    assert response.status_code == 200
    rows = table_rows(response.content.decode())
    assert len(rows) == 13  # 12 months + total
    assert rows[-2][1] == "1"
    assert rows[-1][:2] == ["Total", "1"]


def test_severity_and_component_filters(staff_client, two_months):
    realm = make_component("Realm", slug="realm")
    services.incident_update(
        incident_id=Incident.objects.get(title="Wallet").pk, author="x", source=Source.ADMIN, components=[realm]
    )
    rows = table_rows(staff_client.get(METRICS_URL, {**JAN, "severities": ["sev-1", "sev-3"]}).content.decode())
    assert rows[-1][:2] == ["Total", "2"]
    rows = table_rows(staff_client.get(METRICS_URL, {**JAN, "components": ["realm"]}).content.decode())
    assert rows[-1][:2] == ["Total", "1"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "2025-03-01", "until": "2025-01-01"}, "The end of the range is before its start."),
        ({"since": "1990-01-01", "until": "2025-01-01"}, "Choose a range of at most 120 months."),
        ({"since": "not a date", "until": "2025-01-01"}, "Enter a valid date."),
        ({"since": "2025-01-01", "until": "2025-01-31", "severities": ["sev-9"]}, "Select a valid choice."),
    ],
)
def test_bad_filters_are_shown_not_crashed(staff_client, params, message):
    response = staff_client.get(METRICS_URL, params)
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert 'id="metrics-table"' not in html
    assert 'value="' + params["since"] + '"' in html  # what the user typed is kept


def test_csv_download(staff_client, two_months):
    response = staff_client.get(METRICS_URL, {**JAN, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="incident-metrics-20250101-20250228.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["month", "incidents", "sev-1"]
    assert rows[1] == ["2025-01", "2", "1", "0", "1", "0", "0", "1", "600", "600", "600", "1", "7200", "7200", "7200"]
    assert rows[3][:2] == ["total", "3"]


def test_page_links_to_the_csv_with_the_same_filters(staff_client, two_months):
    html = staff_client.get(METRICS_URL, {**JAN, "severities": "sev-1"}).content.decode()
    assert "since=2025-01-01&amp;until=2025-02-28&amp;severities=sev-1&amp;format=csv" in html


def test_linked_from_the_admin_index_and_the_incident_list(staff_client):
    assert METRICS_URL in staff_client.get(reverse("admin:index")).content.decode()
    assert METRICS_URL in staff_client.get(CHANGELIST_URL).content.decode()


def test_anonymous_users_are_sent_to_the_login(client):
    response = client.get(METRICS_URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert client.get(METRICS_URL, {"format": "csv", **JAN}).status_code == 302


def test_non_staff_users_are_refused(client, django_user_model):
    user = django_user_model.objects.create_user("bob", password="pw")
    client.force_login(user)
    response = client.get(METRICS_URL, {**JAN, "format": "csv"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_incident_permission_get_403(client, django_user_model):
    user = django_user_model.objects.create_user("carol", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(METRICS_URL).status_code == 403
    assert METRICS_URL not in client.get(reverse("admin:index")).content.decode()
    user.user_permissions.add(Permission.objects.get(codename="view_incident"))
    assert client.get(METRICS_URL).status_code == 200


def test_bounded_queries_for_ten_thousand_incidents(staff_client, django_assert_max_num_queries):
    start = at(2025, 1, 1)
    severities = Severity.values
    incidents = []
    for i in range(10_000):
        reported = start + timedelta(minutes=50 * i)  # about 11.5 months
        resolved = i % 3 != 0
        incidents.append(
            Incident(
                title=f"Incident {i}",
                severity=severities[i % 5],
                status=Status.RESOLVED if resolved else Status.INVESTIGATING,
                reported_at=reported,
                acknowledged_at=reported + timedelta(minutes=i % 47) if i % 4 else None,
                closed_at=reported + timedelta(minutes=30 + i % 600) if resolved else None,
                created_by="bench",
                modified_by="bench",
            )
        )
    Incident.objects.bulk_create(incidents, batch_size=2000)
    with django_assert_max_num_queries(20):
        response = staff_client.get(METRICS_URL, {"since": "2025-01-01", "until": "2025-12-31"})
    assert response.status_code == 200
    rows = table_rows(response.content.decode())
    assert rows[-1][:2] == ["Total", "10000"]
    with django_assert_max_num_queries(20):
        response = staff_client.get(METRICS_URL, {"since": "2025-01-01", "until": "2025-12-31", "format": "csv"})
    assert list(csv.reader(io.StringIO(response.content.decode())))[-1][:2] == ["total", "10000"]


def test_export_selected_incidents_as_csv(staff_client):
    realm = make_component("Realm", slug="realm")
    a = make_incident(
        '=HYPERLINK("http://evil")',
        severity=Severity.SEV2,
        reported_at=at(2025, 1, 10, 10),
        components=[realm],
        point_name="Ana",
    )
    services.incident_resolve(incident_id=a.pk, author="U1", source=Source.SLACK, closed_at=at(2025, 1, 10, 12))
    b = make_incident("Ünïcode title", reported_at=at(2025, 1, 11))
    make_incident("Not selected")
    # Selected on the "All" view (the list shows open incidents by default, and an action applies to what is shown).
    response = staff_client.post(
        f"{CHANGELIST_URL}?state=all", {"action": "export_csv", "_selected_action": [a.pk, b.pk]}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["key"] for r in rows] == [a.key, b.key]
    first = rows[0]
    assert first["title"] == '\'=HYPERLINK("http://evil")'  # not run as a formula
    assert first["status"] == "resolved"
    assert first["reported_at"] == "2025-01-10T10:00:00+00:00"
    assert first["closed_at"] == "2025-01-10T12:00:00+00:00"
    assert first["time_to_resolve_s"] == "7200"
    assert first["time_to_acknowledge_s"] == "7200"  # backdated close: acknowledged at the latest when closed
    assert first["point"] == "Ana"
    assert first["contact"] == "Not assigned"
    assert first["components"] == "Realm"
    assert rows[1]["title"] == "Ünïcode title"
    assert rows[1]["closed_at"] == ""


def test_bar_chart_escapes_labels_and_handles_empty_data():
    svg = bar_chart(title="<b>", labels=["<x>"], series=[("s&", [0], "#000")], stacked=True, format_value=str)
    assert "<b>" not in svg
    assert "&lt;x&gt;" in svg
    assert "<rect x" in svg  # legend only, no bar for a zero
    assert svg.count("<title>") == 1


def test_range_presets_cover_the_ranges_staff_ask_for():
    from datetime import date

    from incidents.admin_views import range_presets

    presets = {label: (since, until) for label, since, until in range_presets(date(2026, 5, 17))}
    assert presets == {
        "Last 30 days": (date(2026, 4, 18), date(2026, 5, 17)),
        "Last 90 days": (date(2026, 2, 17), date(2026, 5, 17)),
        "This quarter": (date(2026, 4, 1), date(2026, 5, 17)),
        "This year": (date(2026, 1, 1), date(2026, 5, 17)),
    }


def test_preset_links_keep_the_other_filters(staff_client):
    from django.utils import timezone

    today = timezone.localdate()
    page = staff_client.get(METRICS_URL, {"since": "2026-01-01", "until": "2026-02-01", "severities": "sev-1"})
    html = page.content.decode()
    since = (today - timedelta(days=29)).isoformat()
    assert f"?since={since}&amp;until={today.isoformat()}&amp;severities=sev-1" in html
    assert "Last 90 days" in html
    assert "This quarter" in html
