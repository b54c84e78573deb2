"""Where no PostgreSQL answers, the suite starts its own from the installed binaries instead of skipping."""

from __future__ import annotations

import asyncio

import asyncpg

from tests import postgres
from tests.conftest import migrate_database


def test_a_throwaway_server_starts_migrates_and_stops() -> None:
    with postgres.throwaway_server() as url:
        assert postgres.answers(url)
        asyncio.run(migrate_database(url))

        async def tables() -> set[str]:
            connection = await asyncpg.connect(url)
            try:
                rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            finally:
                await connection.close()
            return {row["tablename"] for row in rows}

        assert {"restaurant", "token_sequence", "queue_entry", "api_token"} <= asyncio.run(tables())
    assert not postgres.answers(url)
