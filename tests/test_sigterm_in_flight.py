"""SIGTERM while a join is still in the database: the join finishes with 201, then the server exits 0.

The test holds the restaurant's token counter row lock, so the join is provably in flight (waiting for
that lock inside PostgreSQL) when the signal arrives; the lock is released well inside the server's 5 s
statement timeout.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import asyncpg
import httpx
import pytest

from tests.conftest import Server, StaffRestaurant, join_body
from tests.load import stored_entries
from waitline.store.engine import Database

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

WAIT_SECONDS = 1.5


@pytest.fixture
def database_url(pg_database_url: str) -> str:
    """PostgreSQL only: the join is held on a row lock, which SQLite does not have."""
    return pg_database_url


async def eventually(check: str, watcher: asyncpg.Connection, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not await watcher.fetchval(check):
        assert time.monotonic() < deadline, f"{what} did not happen within {WAIT_SECONDS} s"
        await asyncio.sleep(0.02)


async def until_logged(server: Server, line: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while line not in server.output():
        assert time.monotonic() < deadline, f"the server did not log {line!r}:\n{server.output()}"
        await asyncio.sleep(0.02)


async def test_a_join_in_flight_at_sigterm_gets_201_and_is_kept_and_the_server_exits_0(
    server: Server, database: Database, restaurant: StaffRestaurant, database_url: str
) -> None:
    locker = await asyncpg.connect(
        database_url, server_settings={"application_name": "waitline-tests-locker"}
    )
    watcher = await asyncpg.connect(
        database_url, server_settings={"application_name": "waitline-tests-watcher"}
    )
    try:
        lock = locker.transaction()
        await lock.start()
        await locker.execute(
            "SELECT 1 FROM token_sequence WHERE restaurant_id = $1 FOR UPDATE", restaurant.restaurant.id
        )
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            join = asyncio.create_task(client.post(f"{restaurant.public}/queue", json=join_body(1)))
            await eventually(
                """
                SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND application_name = 'waitline'
                  AND wait_event_type = 'Lock'
                """,
                watcher,
                "the join waiting for the counter lock",
            )

            server.process.send_signal(signal.SIGTERM)
            await until_logged(server, "Shutting down")
            assert not join.done()
            assert server.process.poll() is None  # it waits for the join

            await lock.rollback()
            response = await join
    finally:
        await locker.close()
        await watcher.close()

    assert response.status_code == 201, response.text
    assert response.json()["tokenNumber"] == 1
    returncode = await asyncio.to_thread(server.process.wait, 30)
    assert returncode == 0, server.output()

    stored = await stored_entries(database, restaurant.restaurant.id)
    assert [(entry.id, entry.token_number, entry.status) for entry in stored] == [
        (uuid.UUID(response.json()["id"]), 1, "waiting")
    ]
