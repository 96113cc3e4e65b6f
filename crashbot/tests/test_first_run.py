"""`make run` as a newcomer meets it (issue 18): the last start-up lines say where to look, Ctrl-C is quiet.

Runs the real Makefile target (honcho, runserver, db_worker) on a free port and a fresh SQLite file,
then sends SIGINT to its process group, as a terminal's Ctrl-C does.
"""

import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def make_run(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SLACK_SIGNING_SECRET": "local-secret",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    # `-o .venv/.installed`: never reinstall the (shared) virtualenv from a test.
    process = subprocess.Popen(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    yield process, port, lines, reader
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_make_run_ends_with_the_urls_and_ctrl_c_stops_everything_quietly(make_run):
    process, port, lines, reader = make_run
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and not any("Try Slack:" in line for line in lines):
        assert process.poll() is None, "".join(lines)
        time.sleep(0.3)
    output = "".join(lines)
    assert "Try Slack:" in output, output
    origin = f"http://127.0.0.1:{port}"
    banner = [re.sub(r"^\S+ welcome\.1\s+\| ", "", line.rstrip("\n")) for line in lines if "welcome.1" in line]
    assert f"  Status page: {origin}/" in banner
    assert any(f"Admin:       {origin}/admin/" in line and "manage.py createsuperuser" in line for line in banner)
    assert any("slack_simulate" in line and f"--url {origin}" in line for line in banner)
    assert "same SLACK_SIGNING_SECRET" in banner[-1], "the secret is set in this environment"
    # The banner comes after the web server said it was up: it is the end of the start-up output.
    started = next(
        i for i, line in enumerate(lines) if "Quit the server with" in line or "Starting development" in line
    )
    first_banner_line = next(i for i, line in enumerate(lines) if "Crashbot is running" in line)
    assert first_banner_line > started
    pids = [int(pid) for pid in re.findall(r"(?:web|worker)\.1 started \(pid=(\d+)\)", output)]
    assert len(pids) == 2, output

    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=60)
    reader.join(timeout=10)
    output = "".join(lines)
    assert "Error 130" not in output, output
    assert "*** " not in output, output
    assert "SIGINT received" in output
    for pid in pids:
        for _ in range(50):
            if not alive(pid):
                break
            time.sleep(0.1)
        assert not alive(pid), f"process {pid} still running after Ctrl-C"
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
