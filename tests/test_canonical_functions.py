"""Each PL/pgSQL function has ONE canonical file (store/sql/); migrations carry frozen copies of it. The
functions a database migrated to the newest revision holds must be exactly those files, so a change to a
file without a migration that carries it (or the other way round) fails here. PostgreSQL only."""

from __future__ import annotations

import asyncpg
import pytest

from waitline.store.functions import FUNCTIONS, canonical_sql

pytestmark = pytest.mark.anyio


async def definitions(connection: asyncpg.Connection) -> dict[str, str]:
    rows = await connection.fetch(
        """
        SELECT p.proname, pg_get_functiondef(p.oid) AS definition
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.proname LIKE 'waitline\\_%'
        """
    )
    return {row["proname"]: row["definition"] for row in rows}


async def test_the_migrated_functions_are_the_canonical_files(pg_database_url: str) -> None:
    connection = await asyncpg.connect(pg_database_url)
    try:
        migrated = await definitions(connection)
        async with connection.transaction():
            for name in FUNCTIONS:
                await connection.execute(canonical_sql(name))
            canonical = await definitions(connection)
    finally:
        await connection.close()

    assert sorted(migrated) == sorted(FUNCTIONS)  # no function lives outside a canonical file
    for name in FUNCTIONS:
        assert migrated[name] == canonical[name], f"{name}: the migrations and store/sql/{name}.sql differ"
