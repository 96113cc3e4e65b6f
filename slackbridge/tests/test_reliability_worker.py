"""A real `manage.py db_worker` killed with SIGKILL in the middle of a Slack sync, then restarted.

Slack is made slow (every chat.postMessage takes 0.6 s), so the kill lands while a post is in
flight: the fake Slack completes it, but the dead worker never records its ts. What must hold:
Slack converges to one headline per incident and one reply per timeline message, with no
duplicate: the restarted worker finds the post in flight at each kill in Slack by the claim in
its metadata, and records it instead of posting it again. Uses a SQLite file shared by the
processes, like test_tasks_processes.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pytest
from django.conf import settings

from slackbridge.tests.fakeslack import DEFAULT_CHANNEL
from slackbridge.tests.test_tasks_processes import ROOT

INCIDENTS, MESSAGES, KILLS = 4, 4, 2
WRITER = f"""
from incidents import services
ids = [services.incident_create(title=f"Crash {{n}}", author="U0POINT", source="slack").pk for n in range({INCIDENTS})]
for n in range({INCIDENTS * MESSAGES}):
    services.incident_update(incident_id=ids[n % {INCIDENTS}], author="U0POINT", source="slack", message=f"msg {{n}}")
"""

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
        reason="runs the worker processes on a SQLite file (the PostgreSQL pass would repeat the same test)",
    ),
]


def _claims_in_flight(db) -> int:
    with sqlite3.connect(db, timeout=5) as conn:
        return conn.execute("SELECT count(*) FROM slackbridge_slackmessage WHERE ts = ''").fetchone()[0]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_worker_killed_mid_sync_converges_after_restart(fake_slack, tmp_path):
    db = tmp_path / "db.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db}",
        "DEBUG": "true",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_URL": fake_slack.api_url,
        "SLACK_INCIDENTS_CHANNEL": DEFAULT_CHANNEL,
        "SLACK_RETRY_BACKOFF": "0.05",
        "SLACK_SYNC_BACKOFF": "0.2",
        "SLACK_SYNC_LEASE_SECONDS": "3",  # a dead worker's claim on an incident expires quickly
        "LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT, timeout=120)
    writer = subprocess.run([*manage, "shell", "-c", WRITER], env=env, cwd=ROOT, capture_output=True, text=True)
    assert writer.returncode == 0, writer.stderr
    fake_slack.delay(0.6, method="chat.postMessage")
    worker_cmd = [*manage, "db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.05", "-v0"]
    logs = []

    def start_worker():
        log = tmp_path / f"worker{len(logs)}.log"
        logs.append(log)
        return subprocess.Popen(worker_cmd, env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)

    started = time.monotonic()
    for kill in range(KILLS):
        worker = start_worker()
        posts_before = len(fake_slack.calls_to("chat.postMessage"))
        try:
            # Inside a sync: at least one post done by this worker and another one in flight.
            _wait(
                lambda before=posts_before: (
                    len(fake_slack.calls_to("chat.postMessage")) > before and _claims_in_flight(db) > 0
                ),
                30,
                f"worker {kill} to be mid-post",
            )
            time.sleep(0.2)
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
        finally:
            if worker.poll() is None:
                worker.kill()
        assert worker.returncode == -signal.SIGKILL

    expected_texts = {f"msg {n}" for n in range(INCIDENTS * MESSAGES)}

    def reply_messages():
        heads = fake_slack.messages(DEFAULT_CHANNEL)
        return [r["text"].split("\n")[-1] for h in heads for r in fake_slack.replies(DEFAULT_CHANNEL, h["ts"])]

    def converged():
        heads = fake_slack.messages(DEFAULT_CHANNEL)
        return len({h["text"] for h in heads}) == INCIDENTS and set(reply_messages()) >= expected_texts

    worker = start_worker()
    try:
        _wait(converged, 60, "Slack to converge after the restart")
        converged_after = time.monotonic() - started
        time.sleep(1.5)  # would a straggler post again?
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    heads = fake_slack.messages(DEFAULT_CHANNEL)
    head_dups = sum(n - 1 for n in Counter(h["text"] for h in heads).values())
    replies = reply_messages()
    assert set(replies) == expected_texts  # every message reached Slack, nothing else did
    reply_dups = len(replies) - INCIDENTS * MESSAGES
    duplicates = head_dups + reply_dups
    output = "\n".join(log.read_text() for log in logs)
    assert duplicates == 0, (duplicates, Counter(replies).most_common(3))
    assert "found it in Slack, not posting it again" in output  # a post was in doubt, and was found
    assert "Traceback" not in output
    assert fake_slack.topic(DEFAULT_CHANNEL).count("\n") == INCIDENTS - 1
    print(f"kills={KILLS} duplicates={duplicates} converged_after={converged_after:.1f}s")
