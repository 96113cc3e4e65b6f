"""Where webhook and Slack URLs may point (SSRF guard), and the one HTTP POST this app makes.

A URL must be https and every address its host resolves to must be a public (global)
address; `SUBSCRIPTIONS_ALLOW_PRIVATE_URLS=True` allows plain http and loopback, private and
link-local addresses (tests, private networks). The check runs when someone subscribes and
again before every send, and the connection goes to the address that was checked (a name
that resolves elsewhere the second time cannot steer the request). Redirects are never
followed: `http.client` does not follow them.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class UnsafeURL(ValueError):
    """A URL this app refuses to call; the message says why, for the person who gave it."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    address: str  # the checked IP address to connect to


def check_url(url: str, *, allow_private: bool | None = None) -> Target:
    """Parse, resolve and check `url`; raise `UnsafeURL` with a reason, or return where to connect."""
    if allow_private is None:
        allow_private = settings.SUBSCRIPTIONS_ALLOW_PRIVATE_URLS
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL("This is not a valid URL.") from exc
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed:
        raise UnsafeURL("The URL must start with https://.")
    host = parts.hostname or ""
    if not host:
        raise UnsafeURL("The URL has no host name.")
    if parts.username or parts.password:
        raise UnsafeURL("The URL must not contain a user name or password.")
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = _resolve(host, port)
    if not addresses:
        raise UnsafeURL(f"The host name {host} does not resolve to any address.")
    if not allow_private:
        for address in addresses:
            if not _is_public(address):
                raise UnsafeURL(
                    f"The URL points to a private, loopback or link-local address ({address}); "
                    "only public addresses can be called."
                )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=parts.scheme, host=host, port=port, path=path, address=addresses[0])


def _resolve(host: str, port: int) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeURL(f"The host name {host} could not be resolved.") from exc
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        if address not in seen:
            seen.append(address)
    return seen


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


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
