"""`/list` bytes stay exactly what the legacy clients read (issue 18).

A deterministic database (fixed ids, times, names; random shapes from a fixed seed) is
rendered and compared byte for byte with a stored body. Regenerate the fixtures only for a
deliberate change of the contract: `CRASHBOT_WRITE_LIST_FIXTURE=1 pytest this file`.
"""

import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from incidents.models import Component, Incident, Person, Severity, Status, Visibility

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"
BASE = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
TITLES = ["Marketplace", "Realm «Genesis»", "Catalyst peer-ec1", "Wallet & MetaMask", "Emotes 🎭", 'Quotes "x"']
DESCRIPTIONS = ["", "**Impact**: users saw errors.\n\n- one\n- two", "Línea con acentos <b>not html</b> & more", "\t x"]


def seed_list_database(count: int = 60) -> None:
    """Every shape `/list` meets: open, resolved, invalid, internal; named, free-text and unnamed people."""
    rng = random.Random(18)  # noqa: S311 - deterministic data, not security
    components = [
        Component.objects.create(id=900 + n, name=name, slug=f"c{n}", position=n)
        for n, name in enumerate(["Realm", "Catalyst", "Marketplace", "Builder · 3D"])
    ]
    Person.objects.bulk_create([Person(slack_id=f"U0SEED{n:02d}", display_name=f"Person {n} <{n}>") for n in range(5)])
    statuses = ["investigating", "identified", "monitoring", "resolved", "invalid"]
    for n in range(count):
        status = statuses[n % len(statuses)] if n % 11 else Status.INVESTIGATING
        reported = BASE - timedelta(days=rng.randint(0, 300), seconds=rng.randint(0, 86_399), microseconds=n * 997)
        closed = reported + timedelta(minutes=rng.randint(5, 3000)) if status == "resolved" else None
        incident = Incident.objects.create(
            id=1000 + n,
            title=f"{rng.choice(TITLES)} {n}",
            description=rng.choice(DESCRIPTIONS),
            severity=rng.choice(Severity.values),
            status=status,
            visibility=Visibility.INTERNAL if n % 9 == 4 else Visibility.PUBLIC,
            reported_at=reported,
            closed_at=closed,
            point=rng.choice(["", "U0SEED01", "U0SEED03", "U0NONAME"]),
            contact=rng.choice(["", "U0SEED02", "U0NONAME"]),
            point_name=rng.choice(["", "", "Kenji 田中"]),
            contact_name=rng.choice(["", "Lucía"]),
            rca_link=f"https://example.com/rca/{n}" if n % 4 == 0 else "",
            update_number=(number := rng.randint(0, 30)),
            public_update_number=number,  # /list shows the public counters (SPEC §4)
            created_by="seed",
            created_at=reported,
            modified_by="seed",
            modified_at=(changed := (closed or reported) + timedelta(seconds=rng.randint(0, 5000))),
            public_modified_at=changed,
        )
        incident.components.set(rng.sample(components, rng.randint(0, 3)))


@pytest.mark.parametrize("time_zone", ["UTC", "Europe/Madrid"])
def test_list_bytes_are_those_of_the_stored_fixture(client, settings, time_zone):
    settings.TIME_ZONE = time_zone
    settings.LIST_CLOSED_DAYS = 100 * 365  # the seed's fixed dates stay inside the window whatever today is
    settings.PUBLIC_BASE_URL = ""
    settings.ALLOWED_HOSTS = ["status.example.org"]
    seed_list_database()
    response = client.get("/list", HTTP_HOST="status.example.org")
    assert response.status_code == 200
    fixture = FIXTURES / f"list_seeded_{time_zone.replace('/', '_')}.json"
    if os.environ.get("CRASHBOT_WRITE_LIST_FIXTURE"):
        fixture.write_bytes(response.content)
    expected = fixture.read_bytes()
    assert response.content == expected
    assert b'"open":[{' in expected, "the fixture covers open incidents"
    assert b'"closed":[{' in expected, "the fixture covers closed incidents"


def test_the_documented_item_is_the_produced_item(client):
    """One serializer documents and produces the item: the OpenAPI properties are the item's keys, in order."""
    seed_list_database(count=12)
    document = yaml.safe_load(client.get("/api/schema/").content)
    schemas = document["components"]["schemas"]
    documented = list(schemas["LegacyIncident"]["properties"])
    body = client.get("/list").json()
    assert list(schemas["LegacyList"]["properties"]) == list(body) == ["open", "closed"]
    for item in body["open"] + body["closed"]:
        assert list(item) == documented
