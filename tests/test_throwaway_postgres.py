"""Where no PostgreSQL answers, the suite starts its own from the installed binaries instead of skipping; the
outage tests and the bench stop and restart the same kind of private server."""

from __future__ import annotations

import asyncio

import asyncpg

from tests import postgres
from tests.conftest import migrate_database


async def fetch(url: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        rows: list[asyncpg.Record] = await connection.fetch(query)
    finally:
        await connection.close()
    return rows


def test_a_throwaway_server_starts_migrates_and_stops() -> None:
    with postgres.throwaway_server() as server:
        assert postgres.answers(server.admin_url)
        asyncio.run(migrate_database(server.admin_url))

        rows = asyncio.run(
            fetch(server.admin_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        assert {"restaurant", "token_sequence", "queue_entry", "api_token"} <= {row[0] for row in rows}
    assert not postgres.answers(server.admin_url)
    assert not server.root.exists()


def test_a_private_server_runs_with_its_settings_and_keeps_them_and_its_data_across_a_restart() -> None:
    settings = {**postgres.TEST_SETTINGS, "work_mem": "7MB", "application_name": "it's private"}
    with postgres.throwaway_server(settings) as server:
        show = "SELECT current_setting('work_mem'), current_setting('application_name')"
        assert [tuple(row) for row in asyncio.run(fetch(server.admin_url, show))] == [("7MB", "it's private")]
        asyncio.run(fetch(server.admin_url, "CREATE TABLE kept AS SELECT 42 AS answer"))
        first_pid = server.pid()

        server.restart()

        assert server.pid() not in (None, first_pid)
        assert [tuple(row) for row in asyncio.run(fetch(server.admin_url, show))] == [("7MB", "it's private")]
        assert [row[0] for row in asyncio.run(fetch(server.admin_url, "SELECT answer FROM kept"))] == [42]

        server.stop()
        assert server.pid() is None
        assert not postgres.answers(server.admin_url)
        server.start()
        assert [row[0] for row in asyncio.run(fetch(server.admin_url, "SELECT answer FROM kept"))] == [42]
