"""Live streams are shared out fairly: one client holds at most its share of guest streams (429 past it), one
restaurant's guests at most theirs, and signed-in staff streams keep a reserve that no guest flood can take,
so a flood never turns a staff dashboard's stream into a 503. Real streams, held open against a real server;
the clients are told apart by X-Forwarded-For from a trusted proxy (127.0.0.1), as behind nginx."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from tests.conftest import Server, make_restaurant
from tests.web_helpers import create_staff, sign_in
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio

# 12 streams per process: 3 kept for staff, so 9 for guests; 4 per client, 6 per restaurant's guests.
SHARES = {
    "WAITLINE_LIVE_MAX_CONNECTIONS": "12",
    "WAITLINE_LIVE_STAFF_RESERVE": "3",
    "WAITLINE_LIVE_MAX_PER_CLIENT": "4",
    "WAITLINE_LIVE_MAX_PER_RESTAURANT": "6",
    "WAITLINE_TRUSTED_PROXIES": "127.0.0.1/32",
}


class Streams:
    """Streams held open until the end of the test; each attempt's status is kept."""

    def __init__(self, client: httpx.AsyncClient, stack: contextlib.AsyncExitStack) -> None:
        self.client = client
        self.stack = stack

    async def open(self, path: str, *, client_address: str | None = None) -> httpx.Response:
        headers = {"X-Forwarded-For": client_address} if client_address else {}
        response = await self.stack.enter_async_context(self.client.stream("GET", path, headers=headers))
        if response.status_code != 200:
            await response.aread()
        return response

    async def flood(self, path: str, *, client_address: str, attempts: int) -> list[int]:
        return [(await self.open(path, client_address=client_address)).status_code for _ in range(attempts)]


@contextlib.asynccontextmanager
async def streams(server: Server) -> AsyncIterator[Streams]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
    async with (
        httpx.AsyncClient(
            base_url=server.base_url, timeout=httpx.Timeout(10, read=None), limits=limits
        ) as client,
        contextlib.AsyncExitStack() as stack,
    ):
        yield Streams(client, stack)


async def staff_stream_status(server: Server, database: Database) -> int:
    """The status of a signed-in host's dashboard stream, opened now (and closed again)."""
    staff = await create_staff(database, "luigis")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=httpx.Timeout(10, read=None)) as host:
        assert (await sign_in(host, staff)).status_code == 303
        async with host.stream("GET", "/staff/luigis/live") as response:
            if response.status_code == 200:
                assert response.headers["content-type"].startswith("text/event-stream")
            return response.status_code


async def test_one_client_holding_many_board_streams_gets_429_and_the_host_still_gets_a_stream(
    server_factory: Callable[..., Server], database_url: str, database: Database
) -> None:
    server = server_factory(database_url, **SHARES)
    await make_restaurant(database)

    async with streams(server) as held:
        statuses = await held.flood("/luigis/board/live", client_address="203.0.113.7", attempts=30)
        refused = await held.open("/luigis/board/live", client_address="203.0.113.7")
        problem = refused.json()
        other_guest = await held.open("/luigis/board/live", client_address="198.51.100.20")
        host = await staff_stream_status(server, database)

    assert statuses == [200] * 4 + [429] * 26
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) > 0
    assert problem["type"] == "urn:waitline:problem:too-many-live-connections"
    assert other_guest.status_code == 200
    assert host == 200


async def test_an_ipv6_client_is_one_client_across_its_network(
    server_factory: Callable[..., Server], database_url: str, database: Database
) -> None:
    server = server_factory(database_url, **SHARES)
    await make_restaurant(database)

    async with streams(server) as held:
        statuses = [
            (await held.open("/luigis/board/live", client_address=f"2001:db8:1:2::{index + 1:x}")).status_code
            for index in range(6)
        ]
        elsewhere = await held.open("/luigis/board/live", client_address="2001:db8:1:3::1")

    assert statuses == [200] * 4 + [429] * 2
    assert elsewhere.status_code == 200


async def test_a_flood_from_many_clients_leaves_other_restaurants_and_staff_their_streams(
    server_factory: Callable[..., Server], database_url: str, database: Database
) -> None:
    server = server_factory(database_url, **SHARES)
    await make_restaurant(database, "luigis")
    await make_restaurant(database, "marios")

    async with streams(server) as held:
        # Ten clients, three streams each, all at luigis: its guests' share (6) fills, and no more.
        flood = [
            status
            for index in range(10)
            for status in await held.flood(
                "/luigis/board/live", client_address=f"192.0.2.{index}", attempts=3
            )
        ]
        marios_guest = await held.open("/marios/board/live", client_address="198.51.100.1")
        # Then marios is flooded too: the guests' share of the process (9) fills, and no more.
        second_flood = [
            status
            for index in range(10, 20)
            for status in await held.flood(
                "/marios/board/live", client_address=f"192.0.2.{index}", attempts=3
            )
        ]
        host = await staff_stream_status(server, database)

    assert flood.count(200) == 6
    assert set(flood) == {200, 503}
    assert marios_guest.status_code == 200
    assert second_flood.count(200) == 2
    assert set(second_flood) == {200, 503}
    assert host == 200
