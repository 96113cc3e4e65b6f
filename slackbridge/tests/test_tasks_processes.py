"""Real processes on the SQLite default: a writer (as the web process) and two `db_worker`s at once.

Checks that SQLite's settings (WAL, IMMEDIATE transactions, busy timeout) let web and workers
write together without "database is locked", and that two workers syncing the same incidents
still post every headline and reply exactly once.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from slackbridge.tests.fakeslack import DEFAULT_CHANNEL

ROOT = Path(__file__).resolve().parents[2]
WRITER = """
from incidents import services
ids = [services.incident_create(title=f"Process test {n}", author="U0POINT", source="slack").pk for n in range(8)]
for n in range(64):
    services.incident_update(incident_id=ids[n % 8], author="U0POINT", source="slack", message=f"message {n}")
"""

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3", reason="SQLite-specific"
    ),
]


def test_web_and_two_workers_write_sqlite_at_once(fake_slack, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DEBUG": "true",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_URL": fake_slack.api_url,
        "SLACK_INCIDENTS_CHANNEL": DEFAULT_CHANNEL,
        "SLACK_RETRY_BACKOFF": "0.05",
        "SLACK_SYNC_BACKOFF": "0.2",
        "LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT, timeout=120)
    worker_cmd = [*manage, "db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.05", "-v0"]
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = [
        subprocess.Popen(worker_cmd, env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT) for log in logs
    ]
    try:
        writer = subprocess.run(
            [*manage, "shell", "-c", WRITER], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert writer.returncode == 0, writer.stderr
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            heads = fake_slack.messages(DEFAULT_CHANNEL)
            replies = sum(len(fake_slack.replies(DEFAULT_CHANNEL, h["ts"])) for h in heads)
            if len(heads) >= 8 and replies >= 64:
                break
            time.sleep(0.2)
        time.sleep(1)  # would a straggler post a duplicate?
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
    heads = fake_slack.messages(DEFAULT_CHANNEL)
    assert len(heads) == 8
    assert len({h["text"] for h in heads}) == 8
    for head in heads:
        texts = [r["text"] for r in fake_slack.replies(DEFAULT_CHANNEL, head["ts"])]
        assert len(texts) == 8
        assert len(set(texts)) == 8
    output = "\n".join(log.read_text() for log in logs) + writer.stderr
    assert "database is locked" not in output
    assert "Traceback" not in output
    assert fake_slack.topic(DEFAULT_CHANNEL).count("\n") == 7
