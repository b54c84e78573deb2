"""`waitline events verify` walks a restaurant's hash chain: intact, it exits 0; edited by hand (a row
changed, removed or inserted), it exits 1 and names the first bad seq. The database refuses such edits from
the application (see test_event_log.py), so each tamper here goes round that as someone with the database's
keys would: PostgreSQL with triggers switched off for the session, SQLite with the triggers dropped.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta

import anyio
import httpx
import pytest
from sqlalchemy import text

from tests.conftest import StaffRestaurant, join_body
from waitline.domain import GUEST, Event, EventDraft, EventType
from waitline.store import events
from waitline.store.engine import Database
from waitline.store.values import moment

pytestmark = pytest.mark.anyio


async def verify(database_url: str, slug: str = "luigis") -> tuple[int, str, str]:
    environment = {**os.environ, "WAITLINE_DATABASE_URL": database_url}
    with anyio.fail_after(60):
        process = await anyio.run_process(
            [sys.executable, "-m", "waitline", "events", "verify", "--restaurant", slug],
            env=environment,
            check=False,
        )
    return process.returncode, process.stdout.decode(), process.stderr.decode()


async def six_events(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> None:
    """joined 1-4, called #1, seated #1: seq 1 to 6."""
    for index in range(4):
        await client.post(f"{restaurant.public}/queue", json=join_body(index))
    called = await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
    await client.post(f"{restaurant.admin}/queue/{called.json()['id']}/seat", headers=restaurant.headers)


async def tamper(database: Database, *statements: str, **params: object) -> None:
    async with database.transaction() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            await connection.execute(text("DROP TRIGGER IF EXISTS queue_event_no_update"))
            await connection.execute(text("DROP TRIGGER IF EXISTS queue_event_no_delete"))
        for statement in statements:
            await connection.execute(text(statement), params)


async def test_an_untouched_log_verifies(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database_url: str
) -> None:
    await six_events(client, restaurant)

    returncode, stdout, stderr = await verify(database_url)

    assert (returncode, stderr) == (0, "")
    assert "intact: 6 events, seq 1 to 6" in stdout


TAMPERS = {
    "a reason written in": ("UPDATE queue_event SET reason = 'staff said so' WHERE seq = 3", 3, "changed"),
    "a token swapped": ("UPDATE queue_event SET token_number = 4 WHERE seq = 2", 2, "changed"),
    "a call made a seat": ("UPDATE queue_event SET type = 'seated' WHERE seq = 5", 5, "changed"),
    "an actor replaced": ("UPDATE queue_event SET actor_kind = 'system' WHERE seq = 6", 6, "changed"),
    "a hash overwritten": ("UPDATE queue_event SET hash = prev_hash WHERE seq = 4", 4, "changed"),
    "an event removed": ("DELETE FROM queue_event WHERE seq = 3", 3, "removed"),
    "the last event removed": ("DELETE FROM queue_event WHERE seq = 6", 6, "removed"),
}


@pytest.mark.parametrize("tampering", TAMPERS, ids=list(TAMPERS))
async def test_an_event_changed_or_removed_by_hand_is_named_by_its_seq(
    client: httpx.AsyncClient,
    restaurant: StaffRestaurant,
    database: Database,
    database_url: str,
    tampering: str,
) -> None:
    statement, bad_seq, what = TAMPERS[tampering]
    await six_events(client, restaurant)
    await tamper(database, statement)

    returncode, stdout, stderr = await verify(database_url)

    assert returncode == 1
    assert stdout == ""
    assert f"broken at seq {bad_seq}: " in stderr and what in stderr, stderr
    assert "Traceback" not in stderr


async def test_a_moved_time_is_named_by_its_seq(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database, database_url: str
) -> None:
    await six_events(client, restaurant)
    async with database.snapshot() as connection:
        (second,) = await events.page(
            connection=connection, restaurant_id=restaurant.restaurant.id, after=1, limit=1
        )
        earlier = moment(connection, second.at - timedelta(minutes=20))
    await tamper(database, "UPDATE queue_event SET at = :at WHERE seq = 2", at=earlier)

    returncode, _, stderr = await verify(database_url)

    assert returncode == 1 and "broken at seq 2: " in stderr


async def test_an_event_inserted_by_hand_with_a_well_formed_hash_is_named_by_its_seq(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database, database_url: str
) -> None:
    """A forger who computes a correct hash for a seventh event is still caught: the counter row, which every
    append updates in the same transaction, says the log ends at six."""
    await six_events(client, restaurant)
    async with database.snapshot() as connection:
        last = (
            await events.page(connection=connection, restaurant_id=restaurant.restaurant.id, after=5, limit=1)
        )[0]
    forged = Event.recorded(
        EventDraft(EventType.CALLED, GUEST, entry_id=last.entry_id, token_number=2),
        restaurant_id=restaurant.restaurant.id,
        seq=7,
        at=last.at + timedelta(seconds=1),
        prev_hash=last.hash,
    )
    async with database.snapshot() as connection:
        at = moment(connection, forged.at)
    await tamper(
        database,
        "INSERT INTO queue_event (restaurant_id, seq, type, entry_id, token_number, actor_kind, actor_id,"
        " reason, details, at, prev_hash, hash) VALUES (:restaurant_id, 7, 'called', :entry_id, 2, 'guest',"
        " NULL, NULL, NULL, :at, :prev_hash, :hash)",
        restaurant_id=str(restaurant.restaurant.id),
        entry_id=str(last.entry_id),
        at=at,
        prev_hash=forged.prev_hash,
        hash=forged.hash,
    )

    returncode, _, stderr = await verify(database_url)

    assert returncode == 1
    assert "broken at seq 7: seq 7 was never appended: it was inserted by hand" in stderr


async def test_verify_of_an_unknown_restaurant_says_so(
    database_url: str, restaurant: StaffRestaurant
) -> None:
    returncode, stdout, stderr = await verify(database_url, slug="nobody")

    assert returncode != 0 and stdout == ""
    assert "No restaurant has this address." in stderr and "Traceback" not in stderr
