"""SQLite: within a process the writing transactions queue in arrival order and take the database's write
lock one at a time (store/engine.py), instead of every connection polling for it in SQLite's busy handler."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from waitline.config import Settings
from waitline.store.engine import Database, open_database

pytestmark = pytest.mark.anyio

WRITERS = 16


async def test_writing_transactions_run_one_at_a_time_in_arrival_order(sqlite_database_url: str) -> None:
    database = open_database(Settings(database_url=sqlite_database_url, pool_size=WRITERS))
    await database.open_pool(timeout_seconds=10)
    timeline: list[tuple[str, int]] = []

    async def write(index: int) -> None:
        async with database.transaction() as connection:
            timeline.append(("begin", index))
            await connection.execute(text("SELECT 1"))
            await asyncio.sleep(0.005)
            timeline.append(("commit", index))

    try:
        tasks = []
        for index in range(WRITERS):
            tasks.append(asyncio.create_task(write(index)))
            await asyncio.sleep(0)  # each one asks before the next
        await asyncio.gather(*tasks)
    finally:
        await database.dispose()

    assert timeline == [(step, index) for index in range(WRITERS) for step in ("begin", "commit")]


async def test_reads_do_not_wait_for_the_writer(sqlite_database_url: str) -> None:
    database = open_database(Settings(database_url=sqlite_database_url))
    try:
        async with database.transaction(), database.snapshot() as reader:
            assert (await reader.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await database.dispose()


async def test_writers_of_two_processes_take_turns_and_one_that_gives_up_leaves_the_gate_free(
    sqlite_database_url: str,
) -> None:
    """Two Database objects on one file open the gate file twice: to ``flock`` they are two processes."""
    first = open_database(Settings(database_url=sqlite_database_url))
    second = open_database(Settings(database_url=sqlite_database_url))
    order: list[str] = []

    async def write(database: Database, name: str) -> None:
        async with database.transaction() as connection:
            await connection.execute(text("SELECT 1"))
            order.append(name)

    try:
        async with first.transaction():
            order.append("first")
            # The other process's writer waits (in the kernel) while this one holds the gate...
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await write(second, "gave up")
        # ...and the one that gave up took nothing with it: this process writes again.
        await asyncio.wait_for(write(first, "first again"), timeout=10)
        async with first.transaction():
            waiting = asyncio.create_task(write(second, "second"))
            await asyncio.sleep(0.1)
            assert not waiting.done()
        # A waiting writer goes as soon as the gate is let go.
        await asyncio.wait_for(waiting, timeout=10)
    finally:
        await first.dispose()
        await second.dispose()

    assert order == ["first", "first again", "second"]
