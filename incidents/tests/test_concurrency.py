from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.db import connection, connections

from incidents import services
from incidents.models import IncidentUpdate, Source
from incidents.tests.factories import make_incident

THREADS = 24

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locking is proved on PostgreSQL (DATABASE_URL)"),
]


@pytest.mark.django_db(transaction=True)
def test_concurrent_updates_lose_nothing_and_number_without_gaps():
    incident = make_incident("Concurrency")
    barrier = Barrier(THREADS)

    def update(n: int) -> None:
        try:
            barrier.wait()
            services.incident_update(
                incident_id=incident.pk, author=f"U0T{n:03d}", source=Source.SLACK, message=f"update {n}"
            )
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(update, range(THREADS)))

    rows = list(IncidentUpdate.objects.filter(incident=incident).order_by("number"))
    assert [r.number for r in rows] == list(range(1, THREADS + 2))
    assert {r.message for r in rows[1:]} == {f"update {n}" for n in range(THREADS)}
    incident.refresh_from_db()
    assert incident.update_number == THREADS
