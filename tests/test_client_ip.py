"""Which address a join is counted under: the socket peer, unless that peer is a proxy we were told to trust;
only then the rightmost X-Forwarded-For hop that is not itself a trusted proxy. Whatever a client writes
into X-Forwarded-For on its own proves nothing and must not move its limit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, StaffRestaurant, join_body, start_server, stop_server
from tests.server_logs import until_logged
from waitline.config import ipaddress_networks
from waitline.web.client_ip import client_ip, limited_client

pytestmark = pytest.mark.anyio

LOCAL_PROXY = "127.0.0.1/32"


def resolve(peer: str | None, forwarded_for: Sequence[str], trusted: str) -> str:
    return client_ip(peer=peer, forwarded_for=forwarded_for, trusted=ipaddress_networks(trusted))


# --- the rule -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "trusted", "expected"),
    [
        # No trusted proxy (the default): the peer, whatever the header says.
        ("203.0.113.9", ["1.2.3.4"], "", "203.0.113.9"),
        ("127.0.0.1", ["1.2.3.4"], "", "127.0.0.1"),
        # The peer is not one of the trusted proxies: the same.
        ("203.0.113.9", ["1.2.3.4"], "10.0.0.0/8", "203.0.113.9"),
        # A trusted proxy: the address it appended, i.e. the rightmost hop.
        ("10.0.0.2", ["1.2.3.4"], "10.0.0.0/8", "1.2.3.4"),
        ("10.0.0.2", ["6.6.6.6, 1.2.3.4"], "10.0.0.0/8", "1.2.3.4"),
        ("10.0.0.2", ["6.6.6.6,1.2.3.4"], "10.0.0.0/8", "1.2.3.4"),
        # A chain of trusted proxies: the rightmost hop that is not one of them.
        ("10.0.0.2", ["6.6.6.6, 1.2.3.4, 10.0.0.7, 10.0.0.3"], "10.0.0.0/8", "1.2.3.4"),
        ("127.0.0.1", ["6.6.6.6, 1.2.3.4, 10.0.0.7"], "10.0.0.0/8, 127.0.0.1", "1.2.3.4"),
        # Several header lines are one list, in order.
        ("10.0.0.2", ["6.6.6.6", "1.2.3.4, 10.0.0.7"], "10.0.0.0/8", "1.2.3.4"),
        # Empty hops are skipped.
        ("10.0.0.2", ["1.2.3.4, , "], "10.0.0.0/8", "1.2.3.4"),
        # A trusted proxy without the header: the proxy itself.
        ("10.0.0.2", [], "10.0.0.0/8", "10.0.0.2"),
        ("10.0.0.2", [""], "10.0.0.0/8", "10.0.0.2"),
        # Garbage where the client's address should be: the last thing we can trust, the proxy.
        ("10.0.0.2", ["1.2.3.4, not-an-address"], "10.0.0.0/8", "10.0.0.2"),
        ("10.0.0.2", ["1.2.3.4, 1.2.3.4:8080"], "10.0.0.0/8", "10.0.0.2"),
        ("10.0.0.2", ["1.2.3.4, [2001:db8::1]:443"], "10.0.0.0/8", "10.0.0.2"),
        ("10.0.0.2", ["1.2.3.4, unknown"], "10.0.0.0/8", "10.0.0.2"),
        # Garbage further left is the client's own writing, and is passed over.
        ("10.0.0.2", ["not-an-address, 1.2.3.4"], "10.0.0.0/8", "1.2.3.4"),
        # Every hop a trusted proxy: the leftmost, the closest to the client we know.
        ("10.0.0.2", ["10.0.0.5, 10.0.0.4"], "10.0.0.0/8", "10.0.0.5"),
        # IPv6: networks, peers and hops; the address comes back in canonical form.
        ("::1", ["2001:DB8:0:0::1"], "::1/128", "2001:db8::1"),
        ("2001:db8:ffff::2", ["6.6.6.6, 2001:db8::7"], "2001:db8:ffff::/48", "2001:db8::7"),
        ("10.0.0.2", ["2001:db8::7"], "10.0.0.0/8", "2001:db8::7"),
        ("2001:db8::9", ["1.2.3.4"], "10.0.0.0/8", "2001:db8::9"),
        # IPv4-mapped addresses (a dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d) are IPv4.
        ("::ffff:10.0.0.2", ["1.2.3.4"], "10.0.0.0/8", "1.2.3.4"),
        ("::ffff:10.0.0.2", ["1.2.3.4"], "::ffff:10.0.0.0/104", "1.2.3.4"),
        ("10.0.0.2", ["6.6.6.6, ::ffff:1.2.3.4, ::ffff:10.0.0.7"], "10.0.0.0/8", "1.2.3.4"),
        ("::ffff:203.0.113.9", ["1.2.3.4"], "10.0.0.0/8", "::ffff:203.0.113.9"),
        # No peer at all (not over a socket).
        (None, ["1.2.3.4"], "10.0.0.0/8", "unknown"),
    ],
)
def test_the_client_is_the_rightmost_untrusted_hop_behind_trusted_proxies_only(
    peer: str | None, forwarded_for: list[str], trusted: str, expected: str
) -> None:
    assert resolve(peer, forwarded_for, trusted) == expected


@pytest.mark.parametrize(
    ("address", "prefix", "expected"),
    [
        ("203.0.113.9", 64, "203.0.113.9"),
        ("::ffff:203.0.113.9", 64, "203.0.113.9"),
        ("2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", 64, "2001:db8:1:2::/64"),
        ("2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"),
        ("2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6/128"),
        ("::1", 64, "::/64"),
        ("unknown", 64, "unknown"),
    ],
)
def test_the_limits_count_an_ipv6_client_by_its_network_and_ipv4_by_its_address(
    address: str, prefix: int, expected: str
) -> None:
    assert limited_client(address, ipv6_prefix=prefix) == expected


# --- through a real server ----------------------------------------------------------------------------------


async def join(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, index: int, forwarded_for: str | None
) -> tuple[int, str]:
    """(status, request id) of one join sent with this X-Forwarded-For."""
    request_id = f"test-{uuid.uuid4().hex}"
    headers = {"X-Request-ID": request_id}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    response = await client.post(f"{restaurant.public}/queue", json=join_body(index), headers=headers)
    assert response.headers["X-Request-ID"] == request_id
    return response.status_code, request_id


async def logged_clients(server: Server, request_ids: list[str]) -> list[str]:
    """The ``client`` of each request's log event, in the order of ``request_ids``."""
    by_id = {
        event["request_id"]: event["client"]
        for event in await until_logged(server, set(request_ids))
        if event.get("event") == "request" and "request_id" in event
    }
    return [by_id[request_id] for request_id in request_ids]


async def test_a_forged_x_forwarded_for_does_not_move_the_limit(
    server_factory: Callable[..., Server], database_url: str, restaurant: StaffRestaurant
) -> None:
    # The default: no proxy is trusted, not even one on 127.0.0.1 (which uvicorn alone would believe).
    server = server_factory(database_url, WAITLINE_RATE_LIMIT_PER_IP="3/hour")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        sent = [await join(client, restaurant, i, f"198.51.100.{i}") for i in range(5)]

    assert [status for status, _ in sent] == [201, 201, 201, 429, 429]
    assert await logged_clients(server, [request_id for _, request_id in sent]) == ["127.0.0.1"] * 5


async def test_behind_a_trusted_proxy_each_client_is_limited_as_itself(
    server_factory: Callable[..., Server], database_url: str, restaurant: StaffRestaurant
) -> None:
    server = server_factory(
        database_url, WAITLINE_RATE_LIMIT_PER_IP="2/hour", WAITLINE_TRUSTED_PROXIES=LOCAL_PROXY
    )
    forwarded = [
        ("1.2.3.4", 201, "1.2.3.4"),
        ("1.2.3.4", 201, "1.2.3.4"),
        ("1.2.3.4", 429, "1.2.3.4"),
        ("5.6.7.8", 201, "5.6.7.8"),  # another client, another allowance
        ("6.6.6.6, 1.2.3.4", 429, "1.2.3.4"),  # the left part is the client's own writing
        ("1.2.3.4, 6.6.6.6", 201, "6.6.6.6"),  # the proxy saw 6.6.6.6
        (None, 201, "127.0.0.1"),  # no header: the proxy itself
    ]
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        sent = [await join(client, restaurant, i, xff) for i, (xff, _, _) in enumerate(forwarded)]

    assert [status for status, _ in sent] == [status for _, status, _ in forwarded]
    assert await logged_clients(server, [request_id for _, request_id in sent]) == [
        client for _, _, client in forwarded
    ]


@pytest.fixture
def dual_stack_server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """``waitline serve --host :: --workers 2``: uvicorn binds one dual-stack socket, on which an IPv4 peer
    (here the test, standing in for a proxy on 127.0.0.1) shows up as ``::ffff:127.0.0.1``."""
    server = start_server(
        database_url,
        tmp_path / "dual-stack.log",
        host="::",
        workers=2,
        WAITLINE_RATE_LIMIT_PER_IP="2/hour",
        WAITLINE_TRUSTED_PROXIES=LOCAL_PROXY,
    )
    try:
        yield server
    finally:
        stop_server(server)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # two workers: not on SQLite
async def test_a_trusted_ipv4_proxy_is_trusted_on_a_dual_stack_socket(
    dual_stack_server: Server, restaurant: StaffRestaurant
) -> None:
    async with httpx.AsyncClient(base_url=dual_stack_server.base_url, timeout=30) as client:
        sent = [await join(client, restaurant, i, xff) for i, xff in enumerate(["1.2.3.4"] * 3 + ["5.6.7.8"])]

    assert [status for status, _ in sent] == [201, 201, 429, 201]
    logged = await logged_clients(dual_stack_server, [request_id for _, request_id in sent])
    assert logged == ["1.2.3.4"] * 3 + ["5.6.7.8"]
