"""Answer a repeated Slack request with its first reply, changing nothing again (SPEC §3).

Slack retries a request it thinks failed (`X-Slack-Retry-Num`), proxies retry, and a
captured request can be replayed inside the 5-minute signature window. The record of what
was handled lives in the database (`HandledRequest`), which every web process shares, so it
holds whichever process a repeat reaches, on SQLite and PostgreSQL alike.
"""

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from slackbridge.models import HandledRequest

logger = logging.getLogger(__name__)

WINDOW = timedelta(minutes=10)
WAIT_FOR_FIRST = 2.0  # seconds a repeat waits for a first request still in progress (Slack waits 3 s)
POLL = 0.1
_UNSET = object()


def request_key(timestamp: str, body: bytes) -> str:
    return hashlib.sha256(timestamp.encode() + b":" + body).hexdigest()


def once(key: str, handle: Callable[[], dict | None]) -> dict | None:
    """Run `handle` the first time `key` is seen within the window; later, return its reply.

    A repeat that arrives while the first is still running waits briefly for its reply, and
    otherwise gets an empty 200 (the first one answers the person). When the database fails,
    nothing is recorded and `handle` runs: its own reply then says nothing was saved, and the
    claim is dropped so that Slack's retry is handled afresh.
    """
    try:
        claimed = _claim(key)
    except DatabaseError:
        logger.warning("Could not record a Slack request for de-duplication; handling it anyway", exc_info=True)
        return handle()
    if not claimed:
        return _first_reply(key)
    try:
        reply = handle()
    except BaseException:
        _forget(key)
        raise
    try:
        HandledRequest.objects.filter(key=key).update(done=True, reply=_storable(reply))
    except DatabaseError:
        _forget(key)
    return reply


def _claim(key: str) -> bool:
    now = timezone.now()
    HandledRequest.objects.filter(received_at__lt=now - WINDOW).delete()
    try:
        with transaction.atomic():
            HandledRequest.objects.create(key=key, received_at=now)
    except IntegrityError:
        return False
    return True


def _storable(value):
    """The reply as both databases keep it: PostgreSQL's jsonb refuses NUL (a refusal may quote the
    text that was refused), so the stored copy carries U+FFFD in its place."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {key: _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def _first_reply(key: str) -> dict | None:
    deadline = time.monotonic() + WAIT_FOR_FIRST
    while True:
        row = HandledRequest.objects.filter(key=key).values("done", "reply").first()
        if row is None or row["done"]:
            logger.info("Repeated Slack request %s answered with its first reply", key[:12])
            return row["reply"] if row else None
        if time.monotonic() >= deadline:
            logger.info("Repeated Slack request %s while the first is in progress: empty 200", key[:12])
            return None
        time.sleep(POLL)


def _forget(key: str) -> None:
    try:
        HandledRequest.objects.filter(key=key, done=False).delete()
    except DatabaseError:
        logger.warning("Could not drop the de-duplication claim %s", key[:12], exc_info=True)
