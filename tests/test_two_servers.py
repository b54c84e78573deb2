"""Two server processes on one PostgreSQL database: the guarantees hold across processes, not just tasks.

Nothing in a process orders the joins or the calls: the database's row locks do, so a second process
must change nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from tests.conftest import Server, StaffRestaurant, join_body
from tests.load import (
    Caller,
    assert_each_caller_drained_in_token_order,
    drain,
    duplicates,
    field,
    fire,
    last_token,
    record_figures,
    stored_entries,
    storm_client,
    warm_up,
)
from waitline.services import Services
from waitline.store.engine import Database

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

JOINS = 200
ENTRIES = 120
CALLERS = 30


@pytest.fixture
def database_url(pg_database_url: str) -> str:
    """PostgreSQL only: two processes on one SQLite file is not a supported deployment."""
    return pg_database_url


@pytest.fixture
def two_servers(server_factory: Callable[..., Server], pg_database_url: str) -> tuple[Server, Server]:
    return server_factory(pg_database_url), server_factory(pg_database_url)


async def test_a_join_storm_split_across_two_servers_gets_tokens_one_to_n(
    two_servers: tuple[Server, Server], database: Database, restaurant: StaffRestaurant, database_url: str
) -> None:
    await join_storm_split_across(two_servers, database, restaurant, database_url, "join-storm-two-servers")


async def join_storm_split_across(
    two_servers: tuple[Server, Server],
    database: Database,
    restaurant: StaffRestaurant,
    database_url: str,
    figures: str,
) -> None:
    """JOINS joins at once, half through each server: tokens 1..JOINS, each stored as acknowledged."""
    half = JOINS // 2
    async with (
        storm_client(two_servers[0].base_url, half) as a,
        storm_client(two_servers[1].base_url, half) as b,
    ):
        clients = [a, b]
        for client in clients:
            await warm_up(client, half)
        storm = await fire(
            [
                (
                    clients[i % 2],
                    clients[i % 2].build_request("POST", f"{restaurant.public}/queue", json=join_body(i)),
                )
                for i in range(JOINS)
            ]
        )

    tokens = [field(response, "tokenNumber") for response in storm.responses]
    record_figures(
        figures,
        database_url=database_url,
        requests=JOINS,
        wall_seconds=storm.wall_seconds,
        statuses=storm.statuses(),
        duplicate_tokens=duplicates(tokens),
        highest_token_per_server=[max(filter(None, tokens[side::2]), default=None) for side in (0, 1)],
    )
    assert storm.statuses() == {201: JOINS}, [r.text for r in storm.responses if r.status_code != 201][:3]
    assert sorted(tokens) == list(range(1, JOINS + 1))
    ids = {uuid.UUID(response.json()["id"]) for response in storm.responses}
    assert len(ids) == JOINS

    stored = await stored_entries(database, restaurant.restaurant.id)
    assert {(entry.id, entry.token_number) for entry in stored} == {
        (uuid.UUID(response.json()["id"]), response.json()["tokenNumber"]) for response in storm.responses
    }
    assert [entry.token_number for entry in stored] == list(range(1, JOINS + 1))
    assert await last_token(database, restaurant.restaurant.id) == JOINS


async def test_call_next_racing_across_two_servers_calls_every_entry_exactly_once(
    two_servers: tuple[Server, Server], database: Database, restaurant: StaffRestaurant, database_url: str
) -> None:
    await call_next_race_across(two_servers, database, restaurant, database_url, "call-next-race-two-servers")


async def call_next_race_across(
    two_servers: tuple[Server, Server],
    database: Database,
    restaurant: StaffRestaurant,
    database_url: str,
    figures: str,
) -> None:
    """CALLERS staff drain ENTRIES entries through both servers: each entry called exactly once."""
    other_token = await Services(database=database).accounts.create_api_token(slug="luigis")
    headers = [restaurant.headers, {"Authorization": f"Bearer {other_token}"}]
    half = CALLERS // 2
    async with (
        storm_client(two_servers[0].base_url, half) as a,
        storm_client(two_servers[1].base_url, half) as b,
    ):
        clients = [a, b]
        joins = await fire(
            [
                (
                    clients[i % 2],
                    clients[i % 2].build_request("POST", f"{restaurant.public}/queue", json=join_body(i)),
                )
                for i in range(ENTRIES)
            ]
        )
        assert joins.statuses() == {201: ENTRIES}
        callers = [
            Caller(clients[i % 2], f"{restaurant.admin}/queue/call-next", headers[(i // 2) % 2])
            for i in range(CALLERS)
        ]
        answered, wall_seconds = await drain(callers, max_calls_each=ENTRIES + 1)

    called = assert_each_caller_drained_in_token_order(answered)
    called_ids = [uuid.UUID(str(entry["id"])) for entry in called]
    record_figures(
        figures,
        database_url=database_url,
        requests=sum(len(answers) for answers in answered),
        wall_seconds=wall_seconds,
        callers=CALLERS,
        entries=ENTRIES,
        calls_answered_200=len(called_ids),
        duplicate_calls=duplicates(called_ids),
        calls_per_server=[
            sum(r.status_code == 200 for answers in answered[side::2] for r in answers) for side in (0, 1)
        ],
    )
    joined = {uuid.UUID(response.json()["id"]) for response in joins.responses}
    assert len(called_ids) == ENTRIES
    assert set(called_ids) == joined

    stored = await stored_entries(database, restaurant.restaurant.id)
    assert {entry.id for entry in stored} == joined
    assert {entry.status for entry in stored} == {"called"}
