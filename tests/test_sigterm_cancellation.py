"""SIGTERM with slow requests in flight: they finish with their normal answers while new connections are
refused, and the server exits 0; a request held past the graceful timeout is cut off, the process exits all
the same, and the join it carried is committed whole or not at all.

The requests are made slow by holding the restaurant's token counter row lock from the test, so they are
provably inside PostgreSQL when the signal arrives.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import Server, StaffRestaurant, join_body
from tests.counter_lock import CounterLock
from tests.load import last_token, stored_entries
from waitline.store.engine import Database
from waitline.web.problems import MEDIA_TYPE

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SLOW_JOINS = 3
WAIT_SECONDS = 10.0
# The server's graceful timeout in the second test, and how long the test holds the lock there: longer.
SHORT_GRACE = "1"
EXIT_BOUND_SECONDS = 20.0


@pytest.fixture
def database_url(pg_database_url: str) -> str:
    """PostgreSQL only: the requests are held on a row lock, which SQLite does not have."""
    return pg_database_url


async def until_logged(server: Server, line: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while line not in server.output():
        assert time.monotonic() < deadline, f"the server did not log {line!r}:\n{server.output()}"
        await asyncio.sleep(0.02)


async def exit_code(server: Server) -> int:
    """The server's exit code; a process still running after EXIT_BOUND_SECONDS fails the test."""
    try:
        return await asyncio.to_thread(server.process.wait, EXIT_BOUND_SECONDS)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the server did not exit:\n{server.output()}") from None


async def test_slow_requests_in_flight_at_sigterm_finish_while_new_connections_are_refused_then_exit_0(
    server: Server, database: Database, restaurant: StaffRestaurant, database_url: str
) -> None:
    limits = httpx.Limits(max_connections=SLOW_JOINS + 2)
    async with (
        CounterLock(database_url, restaurant.restaurant.id) as lock,
        httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=30) as client,
    ):
        joins = [
            asyncio.create_task(client.post(f"{restaurant.public}/queue", json=join_body(i)))
            for i in range(SLOW_JOINS)
        ]
        await lock.until_waiting(SLOW_JOINS)

        server.process.send_signal(signal.SIGTERM)
        await until_logged(server, "Shutting down")
        # A new connection now is refused: the listening socket is closed before the wait begins.
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as newcomer:
            with pytest.raises(httpx.ConnectError):
                await newcomer.get("/healthz")
        assert server.process.poll() is None  # it waits for the joins
        assert not any(join.done() for join in joins)

        await lock.release()
        async with asyncio.timeout(WAIT_SECONDS):
            responses = await asyncio.gather(*joins)

    assert [response.status_code for response in responses] == [201] * SLOW_JOINS, [
        response.text for response in responses
    ]
    assert sorted(response.json()["tokenNumber"] for response in responses) == [1, 2, 3]
    assert await exit_code(server) == 0, server.output()
    stored = await stored_entries(database, restaurant.restaurant.id)
    assert {(entry.id, entry.token_number) for entry in stored} == {
        (uuid.UUID(response.json()["id"]), response.json()["tokenNumber"]) for response in responses
    }


async def test_a_request_held_past_the_graceful_timeout_is_cut_off_and_leaves_nothing_half_written(
    server_factory: Callable[..., Server], database: Database, restaurant: StaffRestaurant, database_url: str
) -> None:
    server = server_factory(database_url, WAITLINE_GRACEFUL_SHUTDOWN_SECONDS=SHORT_GRACE)
    async with (
        CounterLock(database_url, restaurant.restaurant.id) as lock,
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as client,
    ):
        join = asyncio.create_task(
            client.post(f"{restaurant.public}/queue", json=join_body(1, idempotencyKey="held"))
        )
        await lock.until_waiting(1)

        server.process.send_signal(signal.SIGTERM)
        # The lock is held all along: the join cannot finish before the grace runs out.
        returncode = await exit_code(server)
        await lock.release()
        async with asyncio.timeout(WAIT_SECONDS):
            answer: httpx.Response | BaseException = (await asyncio.gather(join, return_exceptions=True))[0]

        # The server's connections are gone once PostgreSQL has noticed; only then is the outcome final.
        await database.dispose()  # (the test's own pool says application_name 'waitline' too)
        deadline = time.monotonic() + WAIT_SECONDS
        while await lock.watcher.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'waitline'"
        ):
            assert time.monotonic() < deadline, "the stopped server's database sessions linger"
            await asyncio.sleep(0.05)

    assert returncode == 0, server.output()
    assert "timeout graceful shutdown exceeded" in server.output()
    # Cut off: told to retry (503 problem+json, Retry-After) or no answer at all; never 201, never a 500.
    if isinstance(answer, httpx.Response):
        assert answer.status_code == 503, (answer.status_code, answer.text)
        assert answer.headers["content-type"].startswith(MEDIA_TYPE)
        assert answer.headers["retry-after"].isdigit()
    else:
        assert isinstance(answer, httpx.TransportError), answer
    stored = await stored_entries(database, restaurant.restaurant.id)
    counter = await last_token(database, restaurant.restaurant.id)
    # Whole or nothing: the entry and its token together, or neither.
    assert ([entry.token_number for entry in stored], counter) in [([], 0), ([1], 1)], (stored, counter)

    # The phone retries with the same key on a new server, and ends up with exactly one entry either way.
    successor = server_factory(database_url)
    async with httpx.AsyncClient(base_url=successor.base_url, timeout=30) as client:
        retry = await client.post(f"{restaurant.public}/queue", json=join_body(1, idempotencyKey="held"))
    assert retry.status_code == (200 if stored else 201), retry.text
    assert [entry.id for entry in await stored_entries(database, restaurant.restaurant.id)] == [
        uuid.UUID(retry.json()["id"])
    ]
