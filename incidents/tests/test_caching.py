"""HTTP caching of every public response: strong ETag, Cache-Control, 304, CORS on 304, bounded queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents import services
from incidents.caching import CACHE_CONTROL
from incidents.models import Component, Incident, IncidentUpdate, Severity, Source, Status, Visibility
from incidents.tests.factories import PUBLIC_JSON_PATHS, make_component, make_incident

pytestmark = pytest.mark.django_db

JSON_PATHS = PUBLIC_JSON_PATHS
PAGE_PATHS = ["/", "/history", "/history?page=2", "/history.atom", "/history.rss"]
ORIGIN = "https://status.decentraland.org"


@pytest.fixture
def incident():
    component = make_component("Catalyst")
    services.person_set_display_name(slack_id="U0POINT", display_name="Ada")
    return make_incident("Catalyst down", point="U0POINT", components=[component])


def public_paths(incident) -> list[str]:
    return [*JSON_PATHS, *PAGE_PATHS, f"/incidents/{incident.key}"]


def test_every_public_response_has_a_strong_etag_and_cache_control(client, incident):
    for path in public_paths(incident):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["ETag"].startswith('"'), path
        assert response["ETag"].endswith('"'), path
        assert response["Cache-Control"] == CACHE_CONTROL, path


def test_if_none_match_gets_304_with_headers_and_no_body(client, incident):
    for path in public_paths(incident):
        etag = client.get(path)["ETag"]
        response = client.get(path, headers={"if-none-match": etag})
        assert response.status_code == 304, path
        assert response.content == b""
        assert response["ETag"] == etag
        assert response["Cache-Control"] == CACHE_CONTROL
        # A list of tags, a weak form of ours, and `*` match too (RFC 9110).
        assert client.get(path, headers={"if-none-match": f'"other", W/{etag}'}).status_code == 304
        assert client.get(path, headers={"if-none-match": "*"}).status_code == 304


def test_a_stale_etag_gets_the_new_body(client, incident):
    etag = client.get("/api/v2/summary.json")["ETag"]
    services.incident_update(incident_id=incident.pk, author="U0X", source=Source.SLACK, message="Fix rolling out")
    response = client.get("/api/v2/summary.json", headers={"if-none-match": etag})
    assert response.status_code == 200
    assert response["ETag"] != etag
    assert "Fix rolling out" in response.content.decode()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda i: services.incident_resolve(incident_id=i.pk, author="U0X", source=Source.SLACK), id="resolve"
        ),
        pytest.param(lambda i: make_incident("Another"), id="create"),
        pytest.param(
            lambda i: services.person_set_display_name(slack_id="U0POINT", display_name="Ada L."), id="display name"
        ),
        pytest.param(lambda i: Component.objects.filter(name="Catalyst").first().save(), id="component edit"),
        pytest.param(lambda i: make_component("New one"), id="component added"),
    ],
)
def test_every_kind_of_change_changes_the_etag(client, incident, change):
    before = {path: client.get(path)["ETag"] for path in ("/", "/list", "/api/v2/components.json")}
    change(incident)
    for path, etag in before.items():
        assert client.get(path, headers={"if-none-match": etag}).status_code == 200, path


def test_settings_shown_publicly_change_the_etag(client, settings, incident):
    etag = client.get("/list")["ETag"]
    settings.LIST_CLOSED_DAYS = 30
    assert client.get("/list", headers={"if-none-match": etag}).status_code == 200
    etag = client.get("/api/v2/status.json")["ETag"]
    settings.STATUS_PAGE_NAME = "Elsewhere"
    assert client.get("/api/v2/status.json", headers={"if-none-match": etag}).status_code == 200


def test_etags_differ_per_url_and_host(client, incident):
    tags = {client.get(path)["ETag"] for path in public_paths(incident)}
    assert len(tags) == len(public_paths(incident))
    other_host = client.get("/list", headers={"host": "localhost"})["ETag"]
    assert other_host != client.get("/list")["ETag"]


def test_304_costs_one_query(client, incident, django_assert_num_queries):
    for path in public_paths(incident):
        etag = client.get(path)["ETag"]
        with django_assert_num_queries(1):
            assert client.get(path, headers={"if-none-match": etag}).status_code == 304


@pytest.mark.parametrize("path", JSON_PATHS)
def test_cors_headers_also_on_304(client, incident, path):
    etag = client.get(path)["ETag"]
    response = client.get(path, headers={"origin": ORIGIN, "if-none-match": etag})
    assert response.status_code == 304
    assert response["access-control-allow-origin"] == "*"
    assert "etag" in response["access-control-expose-headers"].lower()


def test_preflight_allows_if_none_match(client):
    response = client.options(
        "/api/v2/summary.json",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "GET",
            "access-control-request-headers": "if-none-match",
        },
    )
    assert response.status_code == 200
    assert "if-none-match" in response["access-control-allow-headers"].lower()


def test_list_api_key_is_checked_before_the_etag(client, settings, incident):
    etag = client.get("/list")["ETag"]
    settings.LIST_API_KEY = "s3cret"
    refused = client.get("/list", headers={"if-none-match": etag, "origin": ORIGIN})
    assert refused.status_code == 403
    assert "crashbot" in refused.json()["detail"]
    assert refused["access-control-allow-origin"] == "*"
    assert "ETag" not in refused
    assert client.get("/list", headers={"if-none-match": "*"}).status_code == 403
    allowed = client.get("/list", headers={"crashbot": "s3cret"})
    assert client.get("/list", headers={"crashbot": "s3cret", "if-none-match": allowed["ETag"]}).status_code == 304


def test_head_is_cached_too(client, incident):
    response = client.head("/api/v2/status.json")
    assert response.status_code == 200
    assert client.head("/api/v2/status.json", headers={"if-none-match": response["ETag"]}).status_code == 304


def test_unknown_incident_is_a_404_without_etag(client):
    response = client.get("/incidents/DCL-999")
    assert response.status_code == 404
    assert "ETag" not in response


def bulk_history(count: int, components: list[Component]) -> None:
    """`count` public incidents with two public updates and a component each, written fast (this test only).

    Incidents are spread over the last 120 days; every tenth is open, some are internal or invalid.
    """
    now = timezone.now()
    rows = []
    for n in range(count):
        reported = now - timedelta(hours=3 * n + 1)
        status = Status.INVESTIGATING if n % 10 == 0 else Status.INVALID if n % 17 == 3 else Status.RESOLVED
        rows.append(
            Incident(
                title=f"Bulk incident {n}",
                description="Something *broke*.",
                severity=Severity.values[n % 5],
                status=status,
                visibility=Visibility.INTERNAL if n % 13 == 5 else Visibility.PUBLIC,
                reported_at=reported,
                closed_at=reported + timedelta(hours=1) if status == Status.RESOLVED else None,
                point=f"U0P{n % 7}",
                update_number=1,
                created_by="U0X",
                modified_by="U0X",
                modified_at=reported + timedelta(hours=1),
            )
        )
    incidents = Incident.objects.bulk_create(rows)
    IncidentUpdate.objects.bulk_create(
        IncidentUpdate(
            incident=i, number=number, created_at=i.reported_at + timedelta(minutes=number), author="U0X",
            source=Source.IMPORT, status=i.status, message=f"Update {number}", changes={},
        )
        for i in incidents
        for number in (1, 2)
    )  # fmt: skip
    Incident.components.through.objects.bulk_create(
        Incident.components.through(incident=i, component=components[n % 3]) for n, i in enumerate(incidents)
    )
    for n in range(7):
        services.person_set_display_name(slack_id=f"U0P{n}", display_name=f"Person {n}")


def query_counts(client, paths) -> dict[str, int]:
    counts = {}
    for path in paths:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200, path
        counts[path] = len(ctx.captured_queries)
    return counts


def test_query_counts_with_1000_incidents_equal_those_with_10(client):
    components = [make_component(f"Bulk {n}", group="Bulk" if n % 2 else "") for n in range(3)]
    bulk_history(10, components)
    first = Incident.objects.filter(visibility=Visibility.PUBLIC).exclude(status=Status.INVALID).order_by("id").first()
    # Page 2 of the history is empty with 10 incidents; its bound is checked on its own below.
    paths = [*JSON_PATHS, *(p for p in PAGE_PATHS if "page=2" not in p), f"/incidents/{first.key}"]
    small = query_counts(client, paths)
    bulk_history(990, components)
    assert Incident.objects.count() == 1000
    large = query_counts(client, paths)
    assert large == small
    assert max(small.values()) <= 12, small  # `/`: 9 + 2 for uptime % (probe figures, incident impact) + 1 maintenance
    assert query_counts(client, ["/history?page=2"])["/history?page=2"] == small["/history"]


@pytest.mark.parametrize("path", ["/list", "/api/v2/summary.json", "/", "/history.atom"])
def test_a_repeat_read_is_served_from_the_cache_in_one_query(client, incident, path, django_assert_num_queries):
    first = client.get(path, headers={"origin": "https://status.example.org"})
    with django_assert_num_queries(1):
        again = client.get(path, headers={"origin": "https://status.example.org"})
    assert again.status_code == 200
    assert again.content == first.content
    assert again["ETag"] == first["ETag"]
    assert again["Content-Type"] == first["Content-Type"]
    assert again["Content-Length"] == str(len(first.content))
    assert again["X-Frame-Options"] == "DENY"
    assert "Set-Cookie" not in again
    if path.startswith(("/list", "/api/")):
        assert again["access-control-allow-origin"] == "*"


def test_the_stamp_memo_is_reused_within_its_ttl_and_forgotten_on_a_local_change(
    client, settings, incident, django_capture_on_commit_callbacks
):
    settings.PUBLIC_STAMP_TTL = 60
    first = client.get("/list")["ETag"]
    # bulk_create sends no post_save: like a write by another process, this one is not told.
    Component.objects.bulk_create([Component(name="Written by another process", slug="other-process")])
    assert client.get("/list")["ETag"] == first, "within the TTL the remembered stamp is used"
    settings.PUBLIC_STAMP_TTL = 0
    second = client.get("/list")["ETag"]
    assert second != first, "once the TTL has passed the database is asked again"
    settings.PUBLIC_STAMP_TTL = 60
    with django_capture_on_commit_callbacks(execute=True):
        services.incident_update(incident_id=incident.pk, author="U0X", source=Source.SLACK, message="local change")
    assert client.get("/list")["ETag"] != second, "a change made in this process is seen at once"


def renders(route: str = "incidents:legacy-list") -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("crashbot_public_renders_total", {"route": route}) or 0.0


def test_with_a_shared_store_a_body_rendered_by_one_process_is_not_rendered_by_another(client, settings, incident):
    from django.core.cache import caches

    shared = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "shared-bodies-test"}
    settings.CACHES = {**settings.CACHES, "public-shared": shared}
    caches["public-shared"].clear()
    before = renders()
    first = client.get("/list")
    caches["public"].clear()  # another process (or node): nothing in its own memory
    second = client.get("/list")
    assert second.status_code == 200
    assert second.content == first.content
    assert second["ETag"] == first["ETag"]
    assert renders() - before == 1

    services.incident_update(incident_id=incident.pk, author="U0POINT", source=Source.SLACK, message="Changed")
    caches["public"].clear()
    assert client.get("/list")["ETag"] != first["ETag"]
    assert renders() - before == 2  # a change is rendered again, once


def test_a_shared_store_that_is_down_costs_a_render_not_an_error(client, settings, incident):
    from django.core.cache import caches

    nowhere = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    settings.CACHES = {**settings.CACHES, "public-shared": nowhere}
    before = renders()
    first = client.get("/list")
    caches["public"].clear()
    second = client.get("/list")
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.content == first.content
    assert renders() - before == 2


def test_with_a_shared_store_processes_missing_together_wait_for_the_one_that_claimed_the_render(
    client, settings, incident
):
    """The first process to miss claims the render; another one missing meanwhile waits for that body."""
    import threading

    from django.core.cache import caches

    from incidents import caching

    shared = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "shared-claim-test"}
    settings.CACHES = {**settings.CACHES, "public-shared": shared}
    caches["public-shared"].clear()
    first = client.get("/list")
    etag = first["ETag"]
    key = caching._body_key(etag)
    entry = caches["public-shared"].get(key)
    # Now as a second node that misses while a peer holds the claim and stores its body 0.3 s later.
    caches["public"].clear()
    caches["public-shared"].clear()
    assert caches["public-shared"].add(f"public-render:{etag}", "peer")
    peer = threading.Timer(0.3, lambda: caches["public-shared"].set(key, {**entry, "content": b'{"from":"peer"}'}))
    before = renders()
    peer.start()
    second = client.get("/list")
    peer.join()
    assert second.status_code == 200
    assert second.content == b'{"from":"peer"}'  # the peer's body, not one rendered here
    assert renders() == before


def test_a_claimant_that_never_delivers_costs_a_bounded_wait_then_a_render(client, settings, incident, monkeypatch):
    from django.core.cache import caches

    from incidents import caching

    shared = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "shared-dead-claim-test"}
    settings.CACHES = {**settings.CACHES, "public-shared": shared}
    monkeypatch.setattr(caching, "RENDER_WAIT_SECONDS", 0.2)
    etag = client.get("/list")["ETag"]
    caches["public"].clear()
    caches["public-shared"].clear()
    caches["public-shared"].add(f"public-render:{etag}", "a process that died")
    before = renders()
    response = client.get("/list")
    assert response.status_code == 200
    assert response["ETag"] == etag
    assert renders() == before + 1


def test_a_long_if_none_match_is_honoured_but_not_remembered(client, incident):
    """Client-chosen header values only enter the parse memo when short: a flood of long ones cannot grow it."""
    from incidents import caching

    etag = client.get("/list")["ETag"]
    long_header = ", ".join(f'"{n:032x}"' for n in range(20)) + f", {etag}"
    assert len(long_header) > caching.HEADER_MEMO_MAX
    before = caching._etags_named.cache_info().currsize
    assert client.get("/list", headers={"if-none-match": long_header}).status_code == 304
    assert caching._etags_named.cache_info().currsize == before
