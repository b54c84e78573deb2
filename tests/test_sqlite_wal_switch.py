"""Two processes opening a new SQLite file at the same moment both get a working connection.

Both switch the file to WAL on connect. When their lock upgrades cross, SQLite answers "database is locked"
at once, without waiting in the busy handler; the engine must wait and try again (CI saw one of two
``waitline migrate`` on a fresh file fail this way, about one run in fifteen).
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from waitline.config import Settings
from waitline.store.engine import make_engine

pytestmark = pytest.mark.anyio

# Without the retry, 5 runs of 5 failed, by round 46 at the latest.
ROUNDS = 150


async def journal_mode_after_a_write(engine: AsyncEngine, table: str) -> str:
    async with engine.begin() as connection:
        mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
        await connection.execute(text(f"CREATE TABLE IF NOT EXISTS {table} (x)"))
    return str(mode)


async def open_at_once(url: str) -> list[str]:
    """Two engines on ``url`` connect and write at the same moment: their journal modes, or their errors."""
    engines = [make_engine(Settings(database_url=url)) for _ in range(2)]
    modes: list[str] = []

    async def open_and_write(index: int) -> None:
        # Caught, not raised: cancelling the other engine halfway through its connect would hang it.
        try:
            modes.append(await journal_mode_after_a_write(engines[index], f"t{index}"))
        except Exception as error:
            modes.append(repr(error))

    try:
        async with anyio.create_task_group() as group:
            for index in range(2):
                group.start_soon(open_and_write, index)
    finally:
        for engine in engines:
            await engine.dispose()
    return modes


async def test_two_engines_opening_one_new_file_at_once_both_connect_in_wal_mode(tmp_path: Path) -> None:
    for round_number in range(ROUNDS):
        modes = await open_at_once(f"sqlite:///{tmp_path}/fresh-{round_number}.sqlite3")
        assert modes == ["wal", "wal"], f"round {round_number}"
