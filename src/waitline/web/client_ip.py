"""The client's IP address: the socket peer, unless that peer is a proxy we were told to trust.

Only then is X-Forwarded-For read, from the right: each trusted proxy appends the address it saw, so the
rightmost address that is not itself a trusted proxy is the client. Anything further left was written by the
client and proves nothing. (uvicorn's own proxy-header handling is switched off by ``waitline serve``.)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from waitline.config import IPNetwork


def _is_trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_ip(*, peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]) -> str:
    """``forwarded_for``: every X-Forwarded-For header value of the request, in order."""
    if peer is None:
        return "unknown"
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                # Garbage where an address should be: the last trustworthy thing we know is the proxy.
                return peer
    # Every hop is a trusted proxy: the leftmost one is as close to the client as we can get.
    return hops[0] if hops else peer
