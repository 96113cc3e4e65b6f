"""One HTTP check (no database here).

A probe URL obeys the address rule of `crashbot.urlsafety` (shared with subscription webhooks):
resolved once, every address checked, the request made to the checked address (the name only
goes in `Host` and TLS SNI). Loopback, private, link-local and other non-global addresses are
refused unless `PROBES_ALLOW_PRIVATE_URLS=True`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import urllib3

from crashbot.urlsafety import Target, UnsafeURL, check_url

USER_AGENT = "Crashbot-probe/2 (+status page monitoring)"
BODY_READ_MAX = 256 * 1024
ERROR_MAX = 300


@dataclass(frozen=True)
class Check:
    """What the worker needs to run one probe; plain values, so threads never touch the ORM."""

    probe_id: int
    url: str
    method: str = "GET"
    expected_min: int = 200
    expected_max: int = 399
    body_contains: str = ""
    timeout: float = 5.0
    slow_ms: int | None = None


@dataclass(frozen=True)
class Outcome:
    ok: bool
    latency_ms: int
    status_code: int | None = None
    error: str = ""
    slow: bool = False


def resolve(url: str, *, allow_private: bool) -> Target:
    """`crashbot.urlsafety.check_url` for probes: http or https, private addresses per the setting."""
    return check_url(url, schemes=("http", "https"), allow_private=allow_private, setting="PROBES_ALLOW_PRIVATE_URLS")


def run_check(check: Check, *, allow_private: bool) -> Outcome:
    """Run one check within about `check.timeout` seconds; never raises for network trouble."""
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = resolve(check.url, allow_private=allow_private)
    except UnsafeURL as exc:
        return Outcome(ok=False, latency_ms=elapsed_ms(), error=str(exc)[:ERROR_MAX])
    timeout = urllib3.Timeout(connect=check.timeout, read=check.timeout)
    host_header = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    if ":" in target.host and target.port in (80, 443):
        host_header = f"[{target.host}]"
    kwargs = {"timeout": timeout, "retries": False, "maxsize": 1, "block": False}
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address, target.port, server_hostname=target.host, assert_hostname=target.host, **kwargs
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, **kwargs)
    try:
        response = pool.urlopen(
            check.method,
            target.path,
            headers={"Host": host_header, "User-Agent": USER_AGENT, "Accept": "*/*"},
            redirect=False,
            preload_content=False,
            retries=False,
        )
        try:
            body = b""
            if check.body_contains and check.method == "GET":
                deadline = started + check.timeout
                while len(body) < BODY_READ_MAX:
                    if time.monotonic() > deadline:
                        return Outcome(
                            ok=False,
                            latency_ms=elapsed_ms(),
                            status_code=response.status,
                            error=f"Timed out reading the body after {check.timeout:g} s",
                        )
                    chunk = response.read(8192)
                    if not chunk:
                        break
                    body += chunk
        finally:
            response.release_conn()
    except urllib3.exceptions.NewConnectionError as exc:  # a subclass of ConnectTimeoutError: test it first
        return Outcome(ok=False, latency_ms=elapsed_ms(), error=f"Connection failed: {_reason(exc)}"[:ERROR_MAX])
    except urllib3.exceptions.ConnectTimeoutError:
        return Outcome(ok=False, latency_ms=elapsed_ms(), error=f"Connection timed out after {check.timeout:g} s")
    except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
        return Outcome(ok=False, latency_ms=elapsed_ms(), error=f"No answer within {check.timeout:g} s")
    except urllib3.exceptions.SSLError as exc:
        return Outcome(ok=False, latency_ms=elapsed_ms(), error=f"TLS error: {_reason(exc)}"[:ERROR_MAX])
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return Outcome(ok=False, latency_ms=elapsed_ms(), error=f"Connection failed: {_reason(exc)}"[:ERROR_MAX])
    finally:
        pool.close()
    latency = elapsed_ms()
    if not check.expected_min <= response.status <= check.expected_max:
        return Outcome(
            ok=False,
            latency_ms=latency,
            status_code=response.status,
            error=f"HTTP {response.status} (expected {check.expected_min}–{check.expected_max})",
        )
    if check.body_contains and check.method == "GET":
        if check.body_contains not in body.decode("utf-8", errors="replace"):
            return Outcome(
                ok=False,
                latency_ms=latency,
                status_code=response.status,
                error=f"The body does not contain “{check.body_contains[:60]}”",
            )
    slow = check.slow_ms is not None and latency > check.slow_ms
    return Outcome(ok=True, latency_ms=latency, status_code=response.status, slow=slow)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return str(reason).split(": ", 1)[-1] if isinstance(reason, Exception) else str(reason)
