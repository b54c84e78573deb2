"""The schema's history: up from nothing, down to nothing and up again, on both backends; and two processes
migrating one fresh database at the same moment (the advisory lock makes the second wait, then find it done).
"""

from __future__ import annotations

import functools
import os
import sys
import uuid
from datetime import UTC, datetime

import anyio
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from tests.conftest import CLIENT_IP
from waitline.config import Settings
from waitline.services import Services
from waitline.store import migrations
from waitline.store.engine import Database, open_database
from waitline.store.values import moment

pytestmark = pytest.mark.anyio

TABLES = {"restaurant", "token_sequence", "queue_entry", "api_token", "queue_event"}


def head() -> str | None:
    return ScriptDirectory.from_config(migrations.alembic_config()).get_current_head()


async def downgrade_to_base(database: Database) -> None:
    def downgrade(connection: Connection) -> None:
        command.downgrade(migrations.alembic_config(connection), "base")

    async with database.engine.begin() as connection:
        await connection.run_sync(downgrade)


async def upgrade_to(database: Database, revision: str) -> None:
    def upgrade(connection: Connection) -> None:
        command.upgrade(migrations.alembic_config(connection), revision)

    async with database.engine.begin() as connection:
        await connection.run_sync(upgrade)


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
    await Services(database=database).restaurants.create(slug=slug, name="R")
    join = functools.partial(
        Services(database=database).queue.join,
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


# Entries as round 1 left them (revision 0004, before the event log): token, status, minutes after 18:00 at
# which they joined, were called and finished.
ROUND_ONE_ENTRIES = [
    (1, "seated", 0, 5, 9),
    (2, "no_show", 1, 6, 16),
    (3, "cancelled", 2, None, 4),
    (4, "called", 3, 20, None),
    (5, "waiting", 7, None, None),
]


async def test_entries_from_before_the_event_log_get_their_events_and_the_chain_verifies(
    empty_database_url: str,
) -> None:
    database = open_database(Settings(database_url=empty_database_url))
    restaurant_id = str(uuid.uuid4())
    try:
        await upgrade_to(database, "0004")
        async with database.transaction() as connection:
            moments = {
                minute: moment(connection, datetime(2026, 11, 28, 18, minute, tzinfo=UTC))
                for minute in range(60)
            }
            await connection.execute(
                text("INSERT INTO restaurant (id, slug, name) VALUES (:id, 'luigis', 'Luigis')"),
                {"id": restaurant_id},
            )
            await connection.execute(
                text("INSERT INTO token_sequence (restaurant_id, last_token) VALUES (:id, 5)"),
                {"id": restaurant_id},
            )
            for token, status, joined, called, finished in ROUND_ONE_ENTRIES:
                await connection.execute(
                    text(
                        "INSERT INTO queue_entry (id, restaurant_id, token_number, name, mobile, party_size,"
                        " status, created_at, called_at, finished_at)"
                        " VALUES (:id, :restaurant_id, :token, 'G',"
                        " :mobile, 2, :status, :created_at, :called_at, :finished_at)"
                    ),
                    {
                        "id": str(uuid.uuid4()),
                        "restaurant_id": restaurant_id,
                        "token": token,
                        "mobile": f"+1415555000{token}",
                        "status": status,
                        "created_at": moments[joined],
                        "called_at": None if called is None else moments[called],
                        "finished_at": None if finished is None else moments[finished],
                    },
                )

        await migrations.upgrade(database.engine)

        services = Services(database=database)
        page = await services.events.page(restaurant_id=uuid.UUID(restaurant_id), after=0, limit=100)
        assert [(event.seq, event.type.value, event.token_number) for event in page.events] == [
            (1, "joined", 1),
            (2, "joined", 2),
            (3, "joined", 3),
            (4, "joined", 4),
            (5, "cancelled", 3),
            (6, "called", 1),
            (7, "called", 2),
            (8, "joined", 5),
            (9, "seated", 1),
            (10, "no_show", 2),
            (11, "called", 4),
        ]
        assert {event.actor.kind.value for event in page.events} == {"system"}
        assert (await services.events.verify(slug="luigis")).checked == 11
        # The log goes on from there: the next join is token 6 and seq 12, and the chain still holds.
        joined = await services.queue.join(
            client_ip=CLIENT_IP,
            slug="luigis",
            name="Ada",
            mobile="+14155550109",
            party_size=2,
            idempotency_key=None,
        )
        assert joined.entry.token_number == 6
        verdict = await services.events.verify(slug="luigis")
        assert verdict.intact and verdict.head_seq == 12
    finally:
        await database.dispose()
