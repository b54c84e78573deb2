"""The client's IP address: the socket peer, unless that peer is a proxy we were told to trust.

Only then is X-Forwarded-For read, from the right: each trusted proxy appends the address it saw, so the
rightmost address that is not itself a trusted proxy is the client. Anything further left was written by the
client and proves nothing. (uvicorn's own proxy-header handling is switched off by ``waitline serve``.)

The per-address limits count an IPv6 client by its network: one subscriber is handed a whole /64 (RFC 6177,
RIPE-690) and can pick a new address from it for every request.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from waitline.config import IPNetwork


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``text`` names; an IPv4-mapped IPv6 address (``::ffff:10.0.0.5``, what a dual-stack
    socket reports for an IPv4 peer) as the IPv4 address it is."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _is_trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    # Either form of an IPv4-mapped address: "10.0.0.0/8" and "::ffff:10.0.0.0/104" both name it.
    forms = [ip, _address(address)]
    return any(form is not None and form in network for form in forms for network in trusted)


def client_ip(
    *,
    peer: str | None,
    forwarded_for: Sequence[str],
    trusted: Sequence[IPNetwork],
    trusted_socket_peer: bool = False,
) -> str:
    """``forwarded_for``: every X-Forwarded-For header value of the request, in order.
    ``trusted_socket_peer``: the peer (``None``, a Unix socket's) is a proxy to believe."""
    if peer is None and not trusted_socket_peer:
        return "unknown"
    if peer is not None and (not trusted or not _is_trusted(peer, trusted)):
        return peer
    known = peer or "unknown"
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            # Garbage where an address should be: the last trustworthy thing we know is the proxy.
            ip = _address(hop)
            return known if ip is None else str(ip)
    # Every hop is a trusted proxy: the leftmost one is as close to the client as we can get.
    return hops[0] if hops else known


def limited_client(address: str, *, ipv6_prefix: int) -> str:
    """The key the per-address limits count ``address`` under: an IPv4 address as it is (IPv4-mapped ones
    too), an IPv6 address as its network of ``ipv6_prefix`` bits (``2001:db8:1:2::/64``)."""
    ip = _address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, ipv6_prefix), strict=False))
    return address if ip is None else str(ip)
