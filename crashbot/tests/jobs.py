"""Job functions for the scheduler tests (named by dotted path like real jobs)."""

import os
import time

CALLS: list[str] = []


def record() -> None:
    CALLS.append("record")


def fail() -> None:
    CALLS.append("fail")
    raise RuntimeError("the probe endpoint said no")


def slow_logged() -> None:
    """Used by the real-process tests: logs start and end (pid, time) to $JOB_LOG, sleeping $JOB_SLEEP between."""
    path, pause = os.environ["JOB_LOG"], float(os.environ.get("JOB_SLEEP", "0"))
    _append(path, f"start {os.getpid()} {time.time():.6f}\n")
    time.sleep(pause)
    _append(path, f"end {os.getpid()} {time.time():.6f}\n")


def _append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
