"""Where this server may send requests on someone's behalf (SSRF guard): webhook and Slack subscription
URLs (subscriptions) and probe URLs (monitoring) obey the same rule.

A URL is parsed, its host resolved once, and every address it resolves to must be a public (global,
not multicast) address — IPv4-mapped IPv6 judged as the IPv4 it carries — unless the caller's
setting allows private networks. The caller connects to the address that was checked (the name only
goes in `Host` and TLS SNI), so a name that re-resolves elsewhere between the check and the request
(DNS rebinding) gets nowhere. Every refusal happens before any socket opens.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


class UnsafeURL(ValueError):
    """A URL this server refuses to call; the message says why, for the person who gave it."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    address: str  # the checked IP address to connect to


def check_url(url: str, *, schemes: tuple[str, ...], allow_private: bool, setting: str) -> Target:
    """Parse, resolve and check `url`; raise `UnsafeURL` with a reason, or return where to connect.

    `schemes` are the schemes accepted; `setting` names the setting that allows private addresses
    (quoted in the refusal, so the person knows what an operator could change).
    """
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL("This is not a valid URL.") from exc
    if parts.scheme not in schemes:
        raise UnsafeURL("The URL must start with " + " or ".join(f"{s}://" for s in schemes) + ".")
    host = parts.hostname or ""
    if not host:
        raise UnsafeURL("The URL has no host name.")
    if parts.username or parts.password:
        raise UnsafeURL("The URL must not contain a user name or password.")
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = _resolve(host, port)
    if not addresses:
        raise UnsafeURL(f"The host name {host} could not be resolved.")
    if not allow_private:
        for address in addresses:
            if not _is_public(address):
                raise UnsafeURL(
                    f"{host} resolves to {address}, a private, loopback or link-local address; only public "
                    f"addresses can be called (allowed only with {setting}=True)."
                )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=parts.scheme, host=host, port=port, path=path, address=addresses[0])


def _resolve(host: str, port: int) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]  # a literal address needs no lookup
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
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
