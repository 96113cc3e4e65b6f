"""The scheduler in real ``db_worker`` processes on a SQLite file: two workers at once, a restart, a kill.

Each worker is the real command, started by a tiny launcher that swaps ``JOBS`` for one test
job (crashbot.tests.jobs.slow_logged) which logs its start and end (pid, time) to a file.
"""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = """
import os, sys
from datetime import timedelta
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crashbot.settings")
django.setup()
from crashbot import scheduling
every = timedelta(seconds=float(os.environ["JOB_EVERY"]))
scheduling.JOBS = (scheduling.Job("test.slow", every, "crashbot.tests.jobs.slow_logged"),)
from django.core.management import call_command
call_command("db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.05", "--worker-id", sys.argv[1])
"""

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
        reason="runs the worker processes on a SQLite file (the claim itself is tested on both engines)",
    ),
]


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("scheduler") / "template.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "DEBUG": "true"}
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT, timeout=180)
    return db


class Workers:
    def __init__(self, tmp_path: Path, template: Path, **env: str):
        self.db = tmp_path / "db.sqlite3"
        shutil.copy(template, self.db)
        self.log = tmp_path / "jobs.log"
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{self.db}",
            "DEBUG": "true",
            "JOB_LOG": str(self.log),
            "SCHEDULER_POLL_SECONDS": "0.05",
            "SLACK_BOT_TOKEN": "",
            "LOG_LEVEL": "INFO",
            **env,
        }
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, worker_id: str, **env: str) -> subprocess.Popen:
        out = (self.tmp_path / f"{worker_id}.out").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, worker_id],
            env={**self.env, **env},
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        self.procs[worker_id] = proc
        return proc

    def stop(self, worker_id: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(worker_id)
        proc.send_signal(sig)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for worker_id in list(self.procs):
            self.stop(worker_id, signal.SIGKILL)

    def output(self, worker_id: str) -> str:
        return (self.tmp_path / f"{worker_id}.out").read_text()

    def events(self) -> list[tuple[str, int, float]]:
        if not self.log.exists():
            return []
        rows = [line.split() for line in self.log.read_text().splitlines()]
        return sorted(((kind, int(pid), float(at)) for kind, pid, at in rows), key=lambda e: e[2])

    def runs(self) -> int:
        return sum(1 for kind, _, _ in self.events() if kind == "end")

    def wait_for(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        logs = {w: self.output(w) for w in self.procs}
        raise AssertionError(f"timed out waiting for {what}; events {self.events()}; worker output {logs}")

    def row(self) -> tuple[datetime, str]:
        with sqlite3.connect(self.db, timeout=10) as conn:
            next_run_at, leased_by = conn.execute(
                "SELECT next_run_at, leased_by FROM crashbot_scheduledjob WHERE name = 'test.slow'"
            ).fetchone()
        return datetime.fromisoformat(next_run_at).replace(tzinfo=UTC), leased_by

    def set_next_run(self, when: datetime) -> None:
        stamp = when.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
        with sqlite3.connect(self.db, timeout=10) as conn:
            conn.execute("UPDATE crashbot_scheduledjob SET next_run_at = ? WHERE name = 'test.slow'", (stamp,))


@pytest.fixture
def workers_factory(tmp_path, migrated_db):
    made = []

    def make(**env):
        made.append(Workers(tmp_path, migrated_db, **env))
        return made[-1]

    yield make
    for workers in made:
        workers.stop_all()


def test_two_workers_never_run_the_same_job_at_once(workers_factory):
    # Always due (every 0.1 s), each run takes 1.5 s, longer than the 0.9 s lease: only the
    # lease renewal while the job runs keeps the other worker from starting it too.
    workers = workers_factory(JOB_EVERY="0.1", JOB_SLEEP="1.5", SCHEDULER_LEASE_SECONDS="0.9")
    workers.start("w1")
    workers.start("w2")
    workers.wait_for(lambda: workers.runs() >= 5, 60, "five runs")
    workers.stop("w1")
    workers.stop("w2")

    events = workers.events()
    running = None
    for kind, pid, _ in events:
        if kind == "start":
            assert running is None, f"two runs at once: {events}"
            running = pid
        else:
            assert running == pid, events
            running = None
    for worker_id in ("w1", "w2"):
        output = workers.output(worker_id)
        assert f"Scheduler started in worker {worker_id}: test.slow" in output
        assert "Traceback" not in output
        assert "taken over" not in output


def test_a_run_missed_while_the_worker_was_down_happens_once_after_restart(workers_factory):
    workers = workers_factory(JOB_EVERY="3600", JOB_SLEEP="0")
    workers.start("w1")
    workers.wait_for(lambda: workers.runs() == 1, 30, "the first run of a new job")
    first_start = workers.events()[0][2]
    time.sleep(1)
    assert workers.runs() == 1
    workers.stop("w1")
    next_run_at, leased_by = workers.row()
    assert leased_by == ""
    assert abs(next_run_at.timestamp() - (first_start + 3600)) < 2

    # While no worker ran, three due times went by.
    workers.set_next_run(datetime.now(tz=UTC) - timedelta(hours=3))
    workers.start("w2")
    workers.wait_for(lambda: workers.runs() == 2, 30, "the missed run after the restart")
    time.sleep(1.5)
    assert workers.runs() == 2
    next_run_at, _ = workers.row()
    assert next_run_at > datetime.now(tz=UTC) + timedelta(minutes=59)
    assert "Traceback" not in workers.output("w2")


def test_a_job_whose_worker_was_killed_mid_run_is_taken_over_once_its_lease_expires(workers_factory):
    workers = workers_factory(JOB_EVERY="3600", SCHEDULER_LEASE_SECONDS="1.5")
    killed = workers.start("w1", JOB_SLEEP="60")
    workers.wait_for(lambda: len(workers.events()) == 1, 30, "the run to start")
    workers.stop("w1", signal.SIGKILL)
    assert workers.row()[1] == "w1"  # its lease is still on the row

    replacement = workers.start("w2", JOB_SLEEP="0")
    workers.wait_for(lambda: workers.runs() == 1, 30, "the job taken over")
    time.sleep(1.5)
    kinds = [(kind, pid) for kind, pid, _ in workers.events()]
    assert kinds == [("start", killed.pid), ("start", replacement.pid), ("end", replacement.pid)]
    assert workers.row()[1] == ""
