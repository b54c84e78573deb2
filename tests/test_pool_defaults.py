"""The defaults are the fast configuration: a pool sized from the worker count, opened whole at start and
kept, so that no connection is opened or closed under load."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, text

from waitline.config import Settings
from waitline.store.engine import open_database

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(("workers", "connections"), [(1, 20), (2, 20), (4, 10), (8, 5), (64, 4)])
def test_the_default_pool_is_the_workers_share_of_the_budget_without_overflow(
    workers: int, connections: int
) -> None:
    settings = Settings(workers=workers)
    assert settings.pool_connections == connections
    assert settings.pool_max_overflow == 0


def test_a_pool_size_that_is_set_wins_over_the_default() -> None:
    assert Settings(workers=8, pool_size=12).pool_connections == 12


async def test_the_pool_is_opened_whole_at_start_and_no_connection_is_opened_under_load(
    database_url: str,
) -> None:
    database = open_database(
        Settings(database_url=database_url, pool_size=3, rate_limit_per_ip="off", rate_limit_per_mobile="off")
    )
    connects: list[Any] = []
    event.listen(database.engine.sync_engine, "connect", lambda *_: connects.append(1))
    try:
        assert await database.open_pool(timeout_seconds=10) == 3
        assert database.engine.pool.checkedin() == 3  # type: ignore[attr-defined]
        opened_at_start = len(connects)

        async def read() -> None:
            async with database.snapshot() as connection:
                await connection.execute(text("SELECT 1"))
                await asyncio.sleep(0.01)

        await asyncio.gather(*(read() for _ in range(12)))
        assert len(connects) == opened_at_start, "a connection was opened under load"
        assert database.engine.pool.checkedin() == 3  # type: ignore[attr-defined]
    finally:
        await database.dispose()


async def test_opening_the_pool_against_a_database_that_is_down_is_not_an_error() -> None:
    database = open_database(Settings(database_url="postgresql://postgres@127.0.0.1:9/nowhere", pool_size=2))
    try:
        assert await database.open_pool(timeout_seconds=2) == 0
    finally:
        await database.dispose()
