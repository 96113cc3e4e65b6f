"""The public edge under attack, through the HTTP stack (issue 11): one test per fix."""

import gzip
import re
from datetime import timedelta

import brotli
import feedparser
import pytest
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from incidents import caching, services
from incidents.models import Incident, IncidentUpdate, Severity, Source, Status, Visibility
from incidents.tests.factories import PUBLIC_JSON_PATHS, make_component, make_incident

pytestmark = pytest.mark.django_db

PAGES = ["/", "/history", "/history.atom", "/history.rss"]


@pytest.fixture
def incident():
    return make_incident("Catalyst down", components=[make_component("Catalyst")], description="Scenes fail.")


def break_the_database():
    """Make every public read fail as with a lost database: the tables they read are gone."""
    with connection.cursor() as cursor:
        for model in (IncidentUpdate, Incident):
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"ALTER TABLE {table} RENAME TO {connection.ops.quote_name(model._meta.db_table + '_gone')}")


# -- control characters ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["Bad \x01 title", "Bell\x07", "Form\x0cfeed", "Nul\x00"])
def test_services_refuse_text_xml_cannot_carry(text):
    with pytest.raises(ValidationError, match="control character"):
        make_incident(text)
    incident = make_incident("Fine")
    with pytest.raises(ValidationError, match="control character"):
        services.incident_update(incident_id=incident.pk, author="U0A", source=Source.SLACK, message=text)


def test_tabs_and_newlines_are_still_fine():
    incident = make_incident("Fine", description="Line one\n\tindented\r\nline two")
    assert "\t" in incident.description


def test_existing_control_characters_never_break_the_feeds(client, incident):
    # Written before the rule existed (a direct row, as old data would be).
    Incident.objects.filter(pk=incident.pk).update(title="Old \x01 title")
    IncidentUpdate.objects.bulk_create([IncidentUpdate(
        incident=incident, number=2, public_number=2, author="U0A", source=Source.SLACK,
        status=incident.status, message="Broken \x02 bytes \x1b[0m",
    )])  # fmt: skip
    for path in ("/history.atom", "/history.rss"):
        response = client.get(path)
        assert response.status_code == 200, path
        feed = feedparser.parse(response.content)
        assert not feed.bozo, (path, feed.get("bozo_exception"))
        assert any("Broken  bytes" in e.summary for e in feed.entries)


# -- cache keys ----------------------------------------------------------------------------------------------------


def test_unknown_query_parameters_neither_bypass_nor_multiply_the_cache(client, incident, django_assert_num_queries):
    first = client.get("/")
    for n in range(20):
        with django_assert_num_queries(1):
            response = client.get(f"/?x={n}&utm_source=spam{n}")
        assert response.status_code == 200
        assert response.content == first.content
        assert response["ETag"] == first["ETag"]
    bodies = [k for k in caches["public"]._cache if "public-body" in k]
    assert len(bodies) == 1


def test_history_page_parameter_is_normalised(client, incident):
    plain = client.get("/history")
    for query in ("?page=1", "?page=abc", "?page=-4", "?page=1&x=2"):
        assert client.get("/history" + query)["ETag"] == plain["ETag"], query
    assert client.get("/history?page=2")["ETag"] != plain["ETag"]


def test_json_ignores_accept(client, incident):
    first = client.get("/api/v2/status.json")
    odd = client.get("/api/v2/status.json", headers={"accept": "text/html"})
    assert odd.status_code == 200
    assert odd["Content-Type"] == "application/json"
    assert odd["ETag"] == first["ETag"]


def test_if_none_match_star_never_304s_a_404(client, incident):
    assert client.get("/incidents/DCL-999", headers={"if-none-match": "*"}).status_code == 404
    assert client.get(f"/incidents/{incident.key}", headers={"if-none-match": "*"}).status_code == 304


# -- compression ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/list", "/", "/history.atom", "/api/v2/summary.json"])
def test_bodies_are_compressed_once_per_etag(client, incident, path):
    raw = client.get(path, headers={"accept-encoding": "identity"})
    assert "Content-Encoding" not in raw
    assert "Accept-Encoding" in raw["Vary"]
    gz = client.get(path, headers={"accept-encoding": "gzip, deflate"})
    assert gz["Content-Encoding"] == "gzip"
    assert gzip.decompress(gz.content) == raw.content
    br = client.get(path, headers={"accept-encoding": "gzip, deflate, br"})
    assert br["Content-Encoding"] == "br"
    assert brotli.decompress(br.content) == raw.content
    assert len(br.content) < len(raw.content)
    assert "Accept-Encoding" in br["Vary"]
    assert len({raw["ETag"], gz["ETag"], br["ETag"]}) == 3
    # Each variant revalidates with its own tag; the stored entry holds every form.
    assert client.get(path, headers={"accept-encoding": "br", "if-none-match": br["ETag"]}).status_code == 304
    entry = caches["public"].get(caching._body_key(raw["ETag"]))
    assert {"content", "gzip", "br"} <= set(entry)
    # A refused encoding is not served.
    assert "Content-Encoding" not in client.get(path, headers={"accept-encoding": "br;q=0, gzip;q=0"})


# -- database down -------------------------------------------------------------------------------------------------


def test_database_down_serves_the_last_body_marked_stale_or_a_json_503(client, incident):
    served = {path: client.get(path).content for path in ("/list", "/")}
    break_the_database()
    for path, body in served.items():
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.content == body
        assert response["X-Crashbot-Stale"] == "true"
        assert response["Warning"].startswith("110")
        assert int(response["Age"]) >= 0
    never = client.get("/api/v2/incidents.json")
    assert never.status_code == 503
    assert never["Content-Type"] == "application/json"
    assert never.json()["error"] == "unavailable"
    page = client.get("/history")
    assert page.status_code == 503
    assert "temporarily unavailable" in page.content.decode()


def test_public_json_errors_are_json(client):
    response = client.get("/api/v2/nothing-here.json")
    assert response.status_code == 404
    assert response.json()["status"] == 404


# -- health --------------------------------------------------------------------------------------------------------


def test_healthz_reads_a_real_table(client):
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
    break_the_database()
    response = client.get("/healthz")
    assert response.status_code == 503


def test_healthz_says_503_when_a_migration_is_missing(client):
    from django.db.migrations.recorder import MigrationRecorder

    MigrationRecorder.Migration.objects.filter(app="incidents").order_by("-id").first().delete()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "not migrated"


# -- representation version, component edits, CSP ------------------------------------------------------------------


def test_representation_version_follows_the_files(settings, tmp_path):
    (tmp_path / "templates").mkdir()
    page = tmp_path / "templates" / "page.html"
    page.write_text("<p>one</p>")
    settings.BASE_DIR = tmp_path
    caching.representation_version.cache_clear()
    try:
        first = caching.representation_version()
        page.write_text("<p>two</p>")
        caching.representation_version.cache_clear()
        assert caching.representation_version() != first
    finally:
        caching.representation_version.cache_clear()


def test_a_component_edit_in_admin_shows_at_once(staff_client, settings):
    component = make_component("Builder", slug="builder")
    settings.PUBLIC_STAMP_TTL = 60
    assert "Under maintenance" not in staff_client.get("/").content.decode()
    response = staff_client.post(
        f"/admin/incidents/component/{component.pk}/change/",
        {"name": "Builder", "slug": "builder", "description": "", "position": 0, "group": "",
         "status_override": "under_maintenance"},
    )  # fmt: skip
    assert response.status_code == 302
    assert "Under maintenance" in staff_client.get("/").content.decode()


def test_every_page_has_csp_and_no_inline_script_or_style(client, incident):
    make_incident("Withdrawn", status=Status.INVESTIGATING)
    for path in [*PAGES, f"/incidents/{incident.key}", "/incidents/DCL-999", *PUBLIC_JSON_PATHS]:
        for _ in range(2):  # rendered, then from the cache
            response = client.get(path)
            csp = response["Content-Security-Policy"]
            assert "default-src 'self'" in csp, path
            assert "unsafe-inline" not in csp, path
            assert "camera=()" in response["Permissions-Policy"], path
            body = response.content.decode()
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), path
            assert " style=" not in body, path
            assert "<style" not in body, path


# -- keys, 404, 410 ------------------------------------------------------------------------------------------------


def test_internal_and_unknown_incidents_get_the_same_branded_404(client):
    secret = make_incident("Secret", visibility=Visibility.INTERNAL)
    internal = client.get(f"/incidents/{secret.key}")
    unknown = client.get("/incidents/DCL-99999")
    assert internal.status_code == unknown.status_code == 404
    assert internal.content == unknown.content
    assert "Page not found" in internal.content.decode()
    assert "<main" in internal.content.decode()


def test_a_withdrawn_public_report_is_a_410_and_a_never_public_invalid_one_a_404(client):
    shown = make_incident("Looked bad")
    services.incident_mark_invalid(incident_id=shown.pk, author="U0A", source=Source.SLACK)
    response = client.get(f"/incidents/{shown.key}")
    assert response.status_code == 410
    assert "This report was withdrawn" in response.content.decode()
    hidden = make_incident("Never shown", visibility=Visibility.INTERNAL)
    services.incident_mark_invalid(incident_id=hidden.pk, author="U0A", source=Source.SLACK)
    services.incident_update(incident_id=hidden.pk, author="U0A", source=Source.SLACK, visibility=Visibility.PUBLIC)
    assert client.get(f"/incidents/{hidden.key}").status_code == 404


def test_other_spellings_of_a_key_redirect_or_404(client, incident):
    for spelling in (str(incident.pk), f"dcl-{incident.pk}", f"Dcl-{incident.pk}", f"DCL-0{incident.pk}"):
        response = client.get(f"/incidents/{spelling}")
        assert response.status_code == 301, spelling
        assert response["Location"] == f"/incidents/{incident.key}"
    key = incident.key
    for spelling in ("DCL-١", f"{key}%20", f"%20{key}", f"{key}%0A", "XYZ-1", "abc", "DCL-1-2"):
        assert client.get(f"/incidents/{spelling}").status_code == 404, spelling


def test_backfilled_incidents_never_say_just_now(client):
    reported = timezone.now() - timedelta(days=50)
    make_incident(
        "Backfilled outage", status=Status.RESOLVED, severity=Severity.SEV2,
        reported_at=reported, closed_at=reported + timedelta(hours=1),
    )  # fmt: skip
    html = client.get("/history").content.decode()
    assert reported.strftime("%b") in html
    assert "just now" not in html
