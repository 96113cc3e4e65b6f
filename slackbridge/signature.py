"""Slack's v0 request signature, as pure functions (no Django, no I/O).

Slack signs `v0:{timestamp}:{raw body}` with the app's signing secret (HMAC-SHA256). The
timestamp window stops replays of an old, correctly signed request; the constant-time
compare stops an attacker from learning the signature byte by byte. (slack_sdk's
SignatureVerifier raises on a non-numeric timestamp, a non-UTF-8 body or a non-ASCII
signature header, all of which an unauthenticated caller controls; hence these few lines.)
"""

import hashlib
import hmac
import time

VERSION = "v0"
MAX_AGE_SECONDS = 300


def sign(*, secret: str, timestamp: str | int, body: bytes) -> str:
    """The `X-Slack-Signature` Slack would send for `body` at `timestamp` (used by tests and slack_simulate)."""
    base = f"{VERSION}:{timestamp}:".encode() + body
    return f"{VERSION}=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(
    *,
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float | None = None,
) -> bool:
    """True only for a fresh request signed with `secret`.

    Without a configured secret nothing verifies: an unconfigured server must not accept
    requests that anyone could have signed with the empty string.
    """
    if not secret or not timestamp or not signature:
        return False
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > MAX_AGE_SECONDS:
        return False
    expected = sign(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))
