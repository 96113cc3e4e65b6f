"""The client address behind trusted proxies: what failed logins (django-axes) and subscription sign-ups
(per-client rate limit) are counted against."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in settings.TRUSTED_PROXIES)


def client_ip(request: HttpRequest) -> str:
    """The address failed logins and sign-ups are counted against.

    ``REMOTE_ADDR``, unless it is one of ``TRUSTED_PROXIES``: then the right-most
    ``X-Forwarded-For`` entry that is not itself a trusted proxy (entries further left
    were written by the client and can be anything). Without trusted proxies the header is
    ignored, so nobody can dodge the throttle by sending a different one each time.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    if not settings.TRUSTED_PROXIES or not _trusted(remote):
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote  # garbage in the header: count it against the proxy's address
    return remote
