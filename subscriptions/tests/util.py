"""Helpers for the subscription tests: run the real worker, read links out of real mails."""

import re
import time

from django_tasks_db.models import DBTaskResult

from slackbridge.tests.syncutil import queued, run_worker  # noqa: F401 - re-exported for the tests

LINK = re.compile(r"https?://[^/\s]+(/subscriptions/[a-z]+/[A-Za-z0-9_-]+)")


def drain(rounds: int = 40, pause: float = 0.1) -> None:
    """Run the worker until nothing is queued (deferred retries included)."""
    for _ in range(rounds):
        run_worker()
        if not queued():
            return
        time.sleep(pause)
    raise AssertionError(f"{queued()} tasks still queued")


def failed_tasks() -> list:
    return list(DBTaskResult.objects.filter(status="FAILED").values_list("task_path", "exception_class_path"))


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def link(message, kind: str) -> str:
    """The path of the first `/subscriptions/<kind>/<token>` link in a mail's text part."""
    for path in LINK.findall(text_of(message)):
        if path.startswith(f"/subscriptions/{kind}/"):
            return path
    raise AssertionError(f"no {kind} link in {text_of(message)!r}")


def subject(message) -> str:
    """The decoded subject; Django folds an encoded subject onto a continuation line, hence the strip."""
    return str(message["Subject"]).strip()


def header(message, name: str) -> str | None:
    """A header as a mail client reads it (unfolded; Django folds long ones onto a continuation line)."""
    value = message[name]
    return None if value is None else str(value).strip()
