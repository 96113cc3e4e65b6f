"""Where webhook and Slack URLs may point, and the one HTTP POST this app makes.

The address rule is `crashbot.urlsafety` (shared with probes); here a URL must also be https,
unless `SUBSCRIPTIONS_ALLOW_PRIVATE_URLS=True`, which allows plain http and loopback, private and
link-local addresses (tests, private networks). The check runs when someone subscribes and again
before every send, and the connection goes to the address that was checked (a name that resolves
elsewhere the second time cannot steer the request). Redirects are never followed: `http.client`
does not follow them.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass

from django.conf import settings

from crashbot import urlsafety
from crashbot.urlsafety import Target, UnsafeURL

__all__ = ["Response", "Target", "UnsafeURL", "check_url", "post"]


def check_url(url: str, *, allow_private: bool | None = None) -> Target:
    """`crashbot.urlsafety.check_url` with this app's rule: https only, unless private URLs are allowed."""
    if allow_private is None:
        allow_private = settings.SUBSCRIPTIONS_ALLOW_PRIVATE_URLS
    schemes = ("https", "http") if allow_private else ("https",)
    return urlsafety.check_url(
        url, schemes=schemes, allow_private=allow_private, setting="SUBSCRIPTIONS_ALLOW_PRIVATE_URLS"
    )


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def post(target: Target, *, body: bytes, headers: dict[str, str], timeout: float) -> Response:
    """POST `body` to the checked `target`, connecting to its checked address; never follows redirects.

    Raises OSError (connection refused, timeouts, TLS errors) and http.client.HTTPException.
    """
    if target.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            target.host, target.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    address = target.address

    def connect_to_checked_address(_address, timeout=None, source_address=None):
        return socket.create_connection((address, target.port), timeout, source_address)

    conn._create_connection = connect_to_checked_address  # TLS still verifies the host name (SNI)
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read(64 * 1024)
        return Response(status=response.status, headers={k.lower(): v for k, v in response.getheaders()}, body=data)
    finally:
        conn.close()
