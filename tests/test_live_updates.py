"""Live pages: a change reaches open Server-Sent Event streams, from any process. Each process reads the event
log's heads: when a signal names a restaurant (PostgreSQL: one NOTIFY per batch of commits, through each
process's one signal connection, which comes back by itself), and by polling (SQLite always; PostgreSQL while
no signals arrive). Streams are bounded: a client that does not take updates is dropped, a process takes at
most so many, and none holds up SIGTERM."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import asyncpg
import httpx
import pytest
from starlette.types import Message

from tests.conftest import Server, StaffRestaurant, join_body, make_restaurant, stop_server
from tests.postgres import free_port
from waitline.config import Settings
from waitline.store.engine import Database, open_database
from waitline.store.signals import APPLICATION_NAME
from waitline.web.hub import LiveHub
from waitline.web.live import EventStream

pytestmark = pytest.mark.anyio

# How long a test waits for an update that should come at once (a wait, not a measurement).
PATIENCE_SECONDS = 10


@pytest.fixture
async def database_at() -> AsyncIterator[Callable[[str], Database]]:
    """Opens a Database on a URL the test chooses (the ``database`` fixture follows ``database_url``)."""
    opened: list[Database] = []

    def open_at(url: str) -> Database:
        opened.append(open_database(Settings(database_url=url)))
        return opened[-1]

    yield open_at
    for database in opened:
        await database.dispose()


class Events:
    """The events of one open text/event-stream."""

    def __init__(self, lines: AsyncIterator[str]) -> None:
        self._lines = lines

    async def next(self) -> tuple[str, str]:
        name, data = "message", []
        async for line in self._lines:
            if line == "":
                if data:
                    return name, "\n".join(data)
                continue
            field, _, value = line.partition(":")
            if field == "event":
                name = value.strip()
            elif field == "data":
                data.append(value[1:] if value.startswith(" ") else value)
        raise EOFError("the stream ended")

    async def update_containing(self, text: str) -> str:
        with anyio.fail_after(PATIENCE_SECONDS):
            while True:
                name, data = await self.next()
                if name == "update" and text in data:
                    return data


@asynccontextmanager
async def open_stream(url: str) -> AsyncIterator[Events]:
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(5, read=None)) as client,
        client.stream("GET", url) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Events(response.aiter_lines())


async def join_and_watch(server: Server, restaurant: StaffRestaurant) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        entry = (await client.post(f"{restaurant.public}/queue", json=join_body(1))).json()
    return entry["id"], f"{server.base_url}/luigis/e/{entry['id']}/live"


async def call_next(server: Server, restaurant: StaffRestaurant) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
        assert response.status_code == 200


async def test_a_staff_action_reaches_an_open_status_page_stream(
    server: Server, restaurant: StaffRestaurant
) -> None:
    _, url = await join_and_watch(server, restaurant)

    async with open_stream(url) as events:
        await events.update_containing('data-status="waiting"')
        await call_next(server, restaurant)
        called = await events.update_containing('data-status="called"')

    assert "your turn" in called


async def test_each_page_stream_follows_its_own_restaurant(
    server: Server, database: Database, restaurant: StaffRestaurant
) -> None:
    other = await make_restaurant(database, slug="marios")
    async with (
        open_stream(f"{server.base_url}/luigis/board/live") as luigis,
        open_stream(f"{server.base_url}/marios/live") as marios,
    ):
        await luigis.update_containing("0</bdi> parties waiting")
        await marios.update_containing("Parties waiting</dt><dd>0<")
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            await client.post(f"{other.public}/queue", json=join_body(1))
            await client.post(f"{restaurant.public}/queue", json=join_body(2))
            await client.post(f"{restaurant.public}/queue", json=join_body(3))

        await luigis.update_containing("2</bdi> parties waiting")
        await marios.update_containing("Parties waiting</dt><dd>1<")


async def listen_backends(admin_url: str, database_url: str) -> list[int]:
    connection = await asyncpg.connect(admin_url)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = $2",
            APPLICATION_NAME,
            database_url.rsplit("/", 1)[1],
        )
    finally:
        await connection.close()
    return [row["pid"] for row in rows]


async def wait_for_listeners(
    admin_url: str, database_url: str, *, count: int, other_than: list[int]
) -> list[int]:
    """The backends of ``count`` signal connections, none of them one of ``other_than``."""
    with anyio.fail_after(PATIENCE_SECONDS):
        while True:
            pids = await listen_backends(admin_url, database_url)
            if len(pids) == count and not set(pids) & set(other_than):
                return pids
            await anyio.sleep(0.1)


# Only a signal can bring an update within PATIENCE_SECONDS: no re-check, no refresh before then.
SIGNALS_ONLY = {"WAITLINE_LIVE_RECHECK_SECONDS": "600", "WAITLINE_LIVE_REFRESH_SECONDS": "600"}


async def seconds_until_seen(events: Events, text: str, change: Callable[[], Awaitable[None]]) -> float:
    """How long after ``change`` was acknowledged the stream delivered an update containing ``text``."""
    await change()
    acknowledged = time.monotonic()
    await events.update_containing(text)
    return time.monotonic() - acknowledged


async def test_a_change_made_through_one_process_reaches_a_stream_on_another_within_a_second(
    server_factory: Callable[..., Server], database_url: str, database_at: Callable[[str], Database]
) -> None:
    watching = server_factory(database_url, **SIGNALS_ONLY)
    acting = server_factory(database_url)
    restaurant = await make_restaurant(database_at(database_url))
    _, url = await join_and_watch(acting, restaurant)

    async with open_stream(url.replace(acting.base_url, watching.base_url)) as events:
        await events.update_containing("You are next!")
        delays = [
            await seconds_until_seen(events, 'data-status="called"', lambda: call_next(acting, restaurant)),
        ]
        async with httpx.AsyncClient(base_url=acting.base_url) as client:
            await client.post(f"{restaurant.public}/queue", json=join_body(2))

        async def seat() -> None:
            async with httpx.AsyncClient(base_url=acting.base_url) as client:
                called = await client.get(
                    f"{restaurant.admin}/queue?status=called", headers=restaurant.headers
                )
                (entry,) = called.json()["entries"]
                seated = await client.post(
                    f"{restaurant.admin}/queue/{entry['id']}/seat", headers=restaurant.headers
                )
                assert seated.status_code == 200

        delays.append(await seconds_until_seen(events, 'data-status="seated"', seat))

    assert max(delays) < 1.0, delays


async def test_the_signal_connection_comes_back_by_itself(
    server_factory: Callable[..., Server],
    pg_database_url: str,
    postgres_admin_url: str,
    database_at: Callable[[str], Database],
) -> None:
    watching = server_factory(pg_database_url, **SIGNALS_ONLY)
    acting = server_factory(pg_database_url)
    restaurant = await make_restaurant(database_at(pg_database_url))
    _, url = await join_and_watch(acting, restaurant)
    listeners = await wait_for_listeners(postgres_admin_url, pg_database_url, count=2, other_than=[])

    async with open_stream(url.replace(acting.base_url, watching.base_url)) as events:
        await events.update_containing("You are next!")
        terminate = await asyncpg.connect(postgres_admin_url)
        for pid in listeners:
            await terminate.execute("SELECT pg_terminate_backend($1)", pid)
        await terminate.close()
        await wait_for_listeners(postgres_admin_url, pg_database_url, count=2, other_than=listeners)

        await call_next(acting, restaurant)
        await events.update_containing('data-status="called"')

    assert "signal connection closed; reconnecting" in watching.output()


async def test_without_any_signal_polling_still_delivers_a_change_within_a_second(
    server_factory: Callable[..., Server], pg_database_url: str, database_at: Callable[[str], Database]
) -> None:
    # Nothing answers where this process's signal connection goes: it never hears a NOTIFY.
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    watching = server_factory(pg_database_url, WAITLINE_LISTEN_DATABASE_URL=nowhere)
    acting = server_factory(pg_database_url)
    restaurant = await make_restaurant(database_at(pg_database_url))
    _, url = await join_and_watch(acting, restaurant)

    async with open_stream(url.replace(acting.base_url, watching.base_url)) as events:
        await events.update_containing("You are next!")
        delay = await seconds_until_seen(
            events, 'data-status="called"', lambda: call_next(acting, restaurant)
        )

    assert delay < 1.0
    assert "signal connection failed" in watching.output()


async def test_open_streams_do_not_hold_up_a_graceful_shutdown(
    server_factory: Callable[..., Server], sqlite_database_url: str, database_at: Callable[[str], Database]
) -> None:
    server = server_factory(sqlite_database_url, WAITLINE_GRACEFUL_SHUTDOWN_SECONDS="20")
    restaurant = await make_restaurant(database_at(sqlite_database_url))
    _, url = await join_and_watch(server, restaurant)

    async with open_stream(url) as first, open_stream(f"{server.base_url}/luigis/board/live") as second:
        await first.update_containing("You are next!")
        await second.update_containing("1</bdi> party waiting")
        await asyncio.to_thread(stop_server, server)
        for events in (first, second):
            with pytest.raises(EOFError), anyio.fail_after(PATIENCE_SECONDS):
                while True:
                    await events.next()

    # The streams ended when SIGTERM came, not when the graceful shutdown timeout ran out and cancelled them.
    assert "timeout graceful shutdown exceeded" not in server.output()
    assert "Application shutdown complete" in server.output()


async def test_a_process_refuses_live_connections_beyond_its_limit(
    server_factory: Callable[..., Server], sqlite_database_url: str, database_at: Callable[[str], Database]
) -> None:
    server = server_factory(
        sqlite_database_url, WAITLINE_LIVE_MAX_CONNECTIONS="1", WAITLINE_LIVE_STAFF_RESERVE="0"
    )
    await make_restaurant(database_at(sqlite_database_url))

    async with open_stream(f"{server.base_url}/luigis/live") as events:
        await events.update_containing("Parties waiting")
        async with httpx.AsyncClient() as client:
            refused = await client.get(f"{server.base_url}/luigis/board/live")

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"


async def test_a_client_that_does_not_take_its_updates_is_dropped() -> None:
    hub = LiveHub(
        max_connections=10, poll_seconds=0.05, recheck_seconds=5, refresh_seconds=30, render_slots=1
    )
    restaurant_id = uuid.uuid4()
    renders = 0

    async def render() -> str:
        nonlocal renders
        renders += 1
        return f"<p>{renders}</p>"

    stream = EventStream(
        hub=hub, restaurant_id=restaurant_id, render=render, send_timeout_seconds=0.2, max_seconds=60
    )
    started: list[Message] = []

    async def receive() -> Message:
        await asyncio.Event().wait()  # the client never disconnects...
        raise AssertionError

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            started.append(message)
            return
        await asyncio.Event().wait()  # ...and never reads what is sent

    with anyio.fail_after(PATIENCE_SECONDS):
        await stream({"type": "http"}, receive, send)

    assert started[0]["status"] == 200
    assert renders == 1
    assert hub.connections == 0
    assert hub.restaurants() == set()
