"""50 people updating one incident at the same instant through the real signed Slack endpoint (PostgreSQL).

Each thread is its own Django test client and database connection; a barrier releases them
together. The services lock the incident row, so every change lands, numbered 1..51 with no
gap or repeat, and every person gets a confirmation. (incidents/tests/test_concurrency.py is
the 24-thread version against the services.)
"""

import time
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.db import connection, connections
from django.test import Client

from incidents.models import IncidentUpdate
from incidents.tests.factories import make_incident
from slackbridge.tests.conftest import SIGNING_SECRET
from slackbridge.tests.slack_requests import send_command

THREADS = 50

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locking is proved on PostgreSQL (DATABASE_URL)"),
]


def command_text(key: str, n: int) -> str:
    """A mix of the one-line forms: messages, status, severity and internal notes."""
    kinds = [
        f"{key} message update {n}",
        f"{key} {'identified' if n % 2 else 'monitoring'} update {n}",
        f"{key} sev-{n % 5 + 1} update {n}",
        f"{key} note update {n}",
    ]
    return kinds[n % 4]


@pytest.mark.django_db(transaction=True)
def test_50_concurrent_slack_updates_to_one_incident_lose_nothing(settings):
    settings.SLACK_SIGNING_SECRET = SIGNING_SECRET
    settings.SLACK_BOT_TOKEN = ""
    incident = make_incident("Fifty at once")
    barrier = Barrier(THREADS)

    def update(n: int) -> tuple[int, str]:
        try:
            client = Client()
            barrier.wait()
            response = send_command(client, "update_incident_one_line", text=command_text(incident.key, n))
            return response.status_code, response.json()["text"]
        finally:
            connections.close_all()

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        replies = list(pool.map(update, range(THREADS)))
    elapsed = time.monotonic() - started

    assert [status for status, _ in replies] == [200] * THREADS
    failed = [
        text for _, text in replies if "Posted on the status page" not in text and "Internal note added" not in text
    ]
    assert failed == []
    rows = list(IncidentUpdate.objects.filter(incident=incident).order_by("number"))
    assert [r.number for r in rows] == list(range(1, THREADS + 2))
    assert sorted(r.message for r in rows[1:]) == sorted(f"update {n}" for n in range(THREADS))
    incident.refresh_from_db()
    assert incident.update_number == THREADS
    print(f"{THREADS} concurrent signed updates in {elapsed:.2f}s")
