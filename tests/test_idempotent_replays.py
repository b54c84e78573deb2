"""Copies of one join racing each other: one entry per idempotency key, and the tokens stay 1..N.

A copy that arrives while its original is still being written waits for the restaurant's counter lock,
then finds the original and answers with it (200, ``Idempotent-Replayed``): it takes no token.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass

import asyncpg
import httpx
import pytest

from tests.conftest import Server, StaffRestaurant, join_body, stop_server
from tests.load import field, fire, last_token, record_figures, stored_entries, storm_client
from waitline.store.engine import Database

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

KEYS = 20
COPIES = 6
CONFLICTS = 5
REUSED_KEY = 0  # joined once before the storm, so its conflicting copies meet a committed entry


def key_of(index: int) -> str:
    return f"join-{index:02d}-7f3c"


def copy_request(client: httpx.AsyncClient, public: str, key: int, copy: int) -> httpx.Request:
    """The same join each time for one key, its key in the header, the body, or both."""
    headers = {"Idempotency-Key": key_of(key)} if copy % 3 != 1 else {}
    body = join_body(key, idempotencyKey=key_of(key)) if copy % 3 != 0 else join_body(key)
    return client.build_request("POST", f"{public}/queue", json=body, headers=headers)


@dataclass(frozen=True)
class ReplayRace:
    first: httpx.Response
    copies: dict[int, list[httpx.Response]]
    conflicts: list[httpx.Response]


async def race_replays(
    server: Server, restaurant: StaffRestaurant, database_url: str, *, label: str = "concurrent-replays"
) -> ReplayRace:
    concurrency = KEYS * COPIES + CONFLICTS
    async with storm_client(server.base_url, concurrency) as client:
        first = await client.send(copy_request(client, restaurant.public, REUSED_KEY, 0))
        # Copies of a key side by side, so that they reach the database together.
        planned = [(key, copy) for key in range(KEYS) for copy in range(COPIES)]
        requests = [(client, copy_request(client, restaurant.public, key, copy)) for key, copy in planned]
        requests += [
            (
                client,
                client.build_request(
                    "POST",
                    f"{restaurant.public}/queue",
                    json=join_body(REUSED_KEY, partySize=7, idempotencyKey=key_of(REUSED_KEY)),
                ),
            )
            for _ in range(CONFLICTS)
        ]
        storm = await fire(requests)

    copies: dict[int, list[httpx.Response]] = defaultdict(list)
    for (key, _copy), response in zip(planned, storm.responses, strict=False):
        copies[key].append(response)
    ids = [field(response, "id") for response in storm.responses[: len(planned)]]
    record_figures(
        label,
        database_url=database_url,
        requests=concurrency,
        wall_seconds=storm.wall_seconds,
        keys=KEYS,
        copies_per_key=COPIES,
        statuses=storm.statuses(),
        distinct_entries=len(set(ids) - {None}),
    )
    return ReplayRace(first=first, copies=dict(copies), conflicts=storm.responses[len(planned) :])


def assert_one_entry_per_key(race: ReplayRace) -> dict[int, uuid.UUID]:
    """Every copy of a key got the same entry, exactly one copy made it, and the tokens are 1..KEYS."""
    assert race.first.status_code == 201
    assert sorted(race.copies) == list(range(KEYS))
    entry_of_key: dict[int, uuid.UUID] = {}
    token_of_key: dict[int, int] = {}
    for key, responses in race.copies.items():
        statuses = [response.status_code for response in responses]
        assert set(statuses) <= {200, 201}, [r.text for r in responses]
        made_before_the_storm = key == REUSED_KEY
        assert statuses.count(201) == (0 if made_before_the_storm else 1), (key, statuses)
        assert all(r.headers.get("Idempotent-Replayed") == "true" for r in responses if r.status_code == 200)
        answered = {(response.json()["id"], response.json()["tokenNumber"]) for response in responses}
        if made_before_the_storm:
            answered.add((race.first.json()["id"], race.first.json()["tokenNumber"]))
        assert len(answered) == 1, (key, answered)
        ((entry_id, token),) = answered
        entry_of_key[key] = uuid.UUID(entry_id)
        token_of_key[key] = token
        assert {response.json()["name"] for response in responses} == {join_body(key)["name"]}
    assert len(set(entry_of_key.values())) == KEYS
    assert sorted(token_of_key.values()) == list(range(1, KEYS + 1))

    assert [response.status_code for response in race.conflicts] == [422] * CONFLICTS
    assert {response.json()["type"] for response in race.conflicts} == {
        "urn:waitline:problem:idempotency-key-reused"
    }
    return entry_of_key


async def assert_database_holds_one_row_per_key(
    database: Database, restaurant: StaffRestaurant, entry_of_key: dict[int, uuid.UUID]
) -> None:
    stored = await stored_entries(database, restaurant.restaurant.id)
    assert {entry.id for entry in stored} == set(entry_of_key.values())
    assert [entry.token_number for entry in stored] == list(range(1, KEYS + 1))
    assert await last_token(database, restaurant.restaurant.id) == KEYS


async def test_racing_copies_of_a_key_make_one_entry_and_tokens_stay_contiguous(
    server: Server, database: Database, restaurant: StaffRestaurant, database_url: str
) -> None:
    race = await race_replays(server, restaurant, database_url)

    entry_of_key = assert_one_entry_per_key(race)
    await assert_database_holds_one_row_per_key(database, restaurant, entry_of_key)


# --- PostgreSQL: a racing copy is answered after the lock, not rolled back by the unique constraint -------


async def table_writes(database_url: str) -> dict[str, tuple[int, int]]:
    """Rows inserted and updated per table, aborted transactions included, once the other sessions ended."""
    connection = await asyncpg.connect(database_url, server_settings={"application_name": "waitline-tests"})
    try:
        deadline = time.monotonic() + 15
        # A session's table statistics are flushed when it ends, before it leaves pg_stat_activity.
        while await connection.fetchval(
            """
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
            """
        ):
            assert time.monotonic() < deadline, "the server's database sessions did not end"
            await asyncio.sleep(0.05)
        rows = await connection.fetch("SELECT relname, n_tup_ins, n_tup_upd FROM pg_stat_user_tables")
    finally:
        await connection.close()
    return {row["relname"]: (row["n_tup_ins"], row["n_tup_upd"]) for row in rows}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_racing_copies_on_postgresql_take_no_token_and_write_no_row_they_roll_back(
    server: Server, database: Database, restaurant: StaffRestaurant, database_url: str
) -> None:
    race = await race_replays(server, restaurant, database_url, label="concurrent-replays-table-writes")
    entry_of_key = assert_one_entry_per_key(race)
    await assert_database_holds_one_row_per_key(database, restaurant, entry_of_key)

    # Rolled-back work leaves no row but is still counted: had a copy inserted an entry and bumped the
    # counter before the unique constraint turned it back, these would exceed one per key.
    assert stop_server(server) is not None
    await database.dispose()
    writes = await table_writes(database_url)
    # One insert per key; one update per entry: its wait quote, written once by the background writer
    # (services/estimates.py, flushed when the server stops), never by a join.
    assert writes["queue_entry"] == (KEYS, KEYS)
    assert writes["token_sequence"] == (1, KEYS)
