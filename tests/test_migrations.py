"""The schema's history: up from nothing, down to nothing and up again, on both backends; and two processes
migrating one fresh database at the same moment (the advisory lock makes the second wait, then find it done).
"""

from __future__ import annotations

import functools
import os
import sys
import uuid

import anyio
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from tests.conftest import CLIENT_IP, NO_LIMITS
from waitline import services
from waitline.config import Settings
from waitline.store import migrations
from waitline.store.engine import Database, open_database

pytestmark = pytest.mark.anyio

TABLES = {"restaurant", "token_sequence", "queue_entry", "api_token"}


def head() -> str | None:
    return ScriptDirectory.from_config(migrations.alembic_config()).get_current_head()


async def downgrade_to_base(database: Database) -> None:
    def downgrade(connection: Connection) -> None:
        command.downgrade(migrations.alembic_config(connection), "base")

    async with database.engine.begin() as connection:
        await connection.run_sync(downgrade)


async def schema(database: Database) -> tuple[set[str], list[str], bool]:
    """(waitline's tables present, alembic versions, whether the PostgreSQL join function exists)."""

    def tables(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    async with database.engine.connect() as connection:
        present = await connection.run_sync(tables)
        versions: list[str] = []
        if "alembic_version" in present:
            versions = list(
                (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars()
            )
        function = False
        if connection.dialect.name == "postgresql":
            found = await connection.execute(
                text("SELECT count(*) FROM pg_proc WHERE proname = 'waitline_join'")
            )
            function = found.scalar_one() == 1
    return present & TABLES, versions, function


async def a_join_works(database: Database) -> None:
    slug = f"r-{uuid.uuid4().hex[:8]}"
    await services.create_restaurant(database=database, slug=slug, name="R")
    join = functools.partial(
        services.join,
        database=database,
        limits=NO_LIMITS,
        client_ip=CLIENT_IP,
        slug=slug,
        name="Ada",
        mobile="+14155550101",
        party_size=2,
        idempotency_key="k",
    )
    result = await join()
    again = await join()
    assert (result.created, result.entry.token_number) == (True, 1)
    assert (again.created, again.entry.id) == (False, result.entry.id)


async def test_upgrade_downgrade_to_base_and_upgrade_again(empty_database_url: str) -> None:
    database = open_database(Settings(database_url=empty_database_url))
    is_postgresql = empty_database_url.startswith("postgresql")
    try:
        assert await schema(database) == (set(), [], False)

        await migrations.upgrade(database.engine)
        assert await schema(database) == (TABLES, [head()], is_postgresql)
        await a_join_works(database)

        await downgrade_to_base(database)
        assert await schema(database) == (set(), [], False)

        await migrations.upgrade(database.engine)
        assert await schema(database) == (TABLES, [head()], is_postgresql)
        await a_join_works(database)

        # Upgrading a current database is a no-op that keeps the data.
        await migrations.upgrade(database.engine)
        async with database.snapshot() as connection:
            count = (await connection.execute(text("SELECT count(*) FROM queue_entry"))).scalar_one()
        assert count == 1
    finally:
        await database.dispose()


async def migrate_at_once(database_url: str, processes: int) -> list[tuple[int, str]]:
    """Start ``processes`` ``waitline migrate`` at the same moment; their exit codes and stderr."""
    environment = {**os.environ, "WAITLINE_DATABASE_URL": database_url}
    results: list[tuple[int, str]] = []

    async def migrate() -> None:
        finished = await anyio.run_process(
            [sys.executable, "-m", "waitline", "migrate"], env=environment, check=False
        )
        results.append((finished.returncode, finished.stderr.decode()))

    with anyio.fail_after(120):
        async with anyio.create_task_group() as group:
            for _ in range(processes):
                group.start_soon(migrate)
    return results


async def test_two_migrate_processes_at_once_on_a_fresh_database_both_succeed(
    empty_database_url: str,
) -> None:
    # PostgreSQL: the advisory lock serialises them (without it, one of the two fails most of the time).
    # SQLite: BEGIN IMMEDIATE does.
    results = await migrate_at_once(empty_database_url, 2)

    assert len(results) == 2
    for returncode, stderr in results:
        assert returncode == 0, stderr
        assert "Traceback" not in stderr
    database = open_database(Settings(database_url=empty_database_url))
    try:
        assert await schema(database) == (TABLES, [head()], empty_database_url.startswith("postgresql"))
        await a_join_works(database)
    finally:
        await database.dispose()
