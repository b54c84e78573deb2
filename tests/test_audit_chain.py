"""The audit trail is hash-chained per organisation like the queue's log: ``waitline audit verify`` finds an
entry changed, removed or inserted by hand, and the trail recorded before the chain existed is chained by
its migration. On both databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import Connection, text

from tests.test_migrations import upgrade_to
from tests.web_helpers import STAFF_PASSWORD
from waitline.cli import main
from waitline.config import Settings
from waitline.domain import Role
from waitline.services import Services
from waitline.services.access import Grant
from waitline.store import migrations
from waitline.store.engine import Database, open_database
from waitline.store.values import moment

pytestmark = pytest.mark.anyio


async def three_entries(database: Database) -> Services:
    services = Services(database=database)
    owner = await services.access.create_owner(email="ann@a.test", password=STAFF_PASSWORD, organisation="A")
    grant = Grant(principal=owner, restaurant=None, role=Role.OWNER)
    for name in ("bob", "cy", "di"):
        await services.ownership.invite(grant, email=f"{name}@a.test")
    return services


async def change(database: Database, statement: str) -> None:
    async with database.transaction() as connection:
        await connection.execute(text(statement))


async def test_an_intact_trail_verifies(database: Database) -> None:
    services = await three_entries(database)
    assert await services.admin.verify_audit() == [("A", 3, None)]


@pytest.mark.parametrize(
    ("tamper", "seq", "problem"),
    [
        ('UPDATE audit_event SET after = \'{"email": "eve@a.test"}\' WHERE seq = 2', 2, "it was changed"),
        ("UPDATE audit_event SET actor = 'owner eve@a.test' WHERE seq = 1", 1, "it was changed"),
        ("DELETE FROM audit_event WHERE seq = 2", 2, "an entry was removed"),
        ("DELETE FROM audit_event WHERE seq = 3", 3, "an entry was removed"),
        (
            "INSERT INTO audit_event (id, organisation_id, actor, action, seq, prev_hash, hash)"
            " SELECT '00000000-0000-4000-8000-000000000001', organisation_id, actor, action, 4, hash, hash"
            " FROM audit_event WHERE seq = 3",
            4,
            "does not match its hash",  # sealed with a made-up hash (a well-sealed one: above the head)
        ),
    ],
)
async def test_a_trail_changed_by_hand_is_found_at_the_first_bad_seq(
    database: Database, tamper: str, seq: int, problem: str
) -> None:
    services = await three_entries(database)
    await change(database, tamper)
    [(name, _, broken)] = await services.admin.verify_audit()
    assert name == "A" and broken is not None
    assert broken.seq == seq and problem in broken.problem


def test_the_command_exits_1_on_a_broken_trail(database_url: str) -> None:
    async def prepare(statement: str | None) -> None:
        database = open_database(Settings(database_url=database_url))
        try:
            await (three_entries(database) if statement is None else change(database, statement))
        finally:
            await database.dispose()

    env = {"WAITLINE_DATABASE_URL": database_url}
    asyncio.run(prepare(None))
    intact = CliRunner().invoke(main, ["audit", "verify"], env=env)
    assert intact.exit_code == 0 and "A: the audit trail is intact: 3 entries" in intact.output
    asyncio.run(prepare("UPDATE audit_event SET action = 'nothing' WHERE seq = 2"))
    broken = CliRunner().invoke(main, ["audit", "verify"], env=env)
    assert broken.exit_code == 1 and "broken at seq 2" in broken.output


async def test_the_migration_chains_the_trail_recorded_before_it(database: Database) -> None:
    def downgrade(connection: Connection) -> None:
        command.downgrade(migrations.alembic_config(connection), "0014")

    async with database.engine.begin() as connection:
        await connection.run_sync(downgrade)
    services = Services(database=database)
    async with database.transaction() as connection:
        await connection.execute(text("INSERT INTO organisation (id, name) VALUES (:id, 'A')"), {"id": ORG})
        for number, action in enumerate(("location.create", "staff.invite", "token.create")):
            await connection.execute(
                text(
                    "INSERT INTO audit_event (id, organisation_id, actor, action, after, created_at)"
                    " VALUES (:id, :organisation, 'owner ann@a.test', :action, '{}', :at)"
                ),
                {
                    "id": f"00000000-0000-4000-8000-00000000000{number}",
                    "organisation": ORG,
                    "action": action,
                    "at": moment(connection, datetime(2026, 11, number + 1, 10, 0, 0, 123456, tzinfo=UTC)),
                },
            )
    await upgrade_to(database, "head")
    assert await services.admin.verify_audit() == [("A", 3, None)]
    owner = await services.access.create_owner(email="ann@a.test", password=STAFF_PASSWORD, organisation="B")
    await services.ownership.invite(
        Grant(principal=owner, restaurant=None, role=Role.OWNER), email="x@b.test"
    )
    assert await services.admin.verify_audit() == [("A", 3, None), ("B", 1, None)]


ORG = "00000000-0000-4000-8000-0000000000a0"
