"""Staff racing on call-next through a real server: each entry is called once, by exactly one caller."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import Server, StaffRestaurant, join_body
from tests.load import (
    Caller,
    assert_each_caller_drained_in_token_order,
    drain,
    duplicates,
    fire,
    record_figures,
    stored_entries,
    storm_client,
)
from waitline.services import Services
from waitline.store.engine import Database

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ENTRIES = 120
CALLERS = 30
STAFF_TOKENS = 3


async def fill_queue(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> dict[uuid.UUID, dict[str, object]]:
    """ENTRIES waiting parties of sizes 1..6 in turn, by id."""
    storm = await fire(
        [
            (client, client.build_request("POST", f"{restaurant.public}/queue", json=join_body(i)))
            for i in range(ENTRIES)
        ]
    )
    assert storm.statuses() == {201: ENTRIES}
    return {uuid.UUID(response.json()["id"]): response.json() for response in storm.responses}


async def staff_headers(database: Database, restaurant: StaffRestaurant) -> list[dict[str, str]]:
    """Several staff tokens of the restaurant, as several tablets at the host stand would have."""
    tokens = [restaurant.token]
    tokens += [
        await Services(database=database).accounts.create_api_token(slug="luigis")
        for _ in range(STAFF_TOKENS - 1)
    ]
    return [{"Authorization": f"Bearer {token}"} for token in tokens]


async def race_call_next(
    server: Server,
    database: Database,
    restaurant: StaffRestaurant,
    database_url: str,
    *,
    max_party_size: int | None,
) -> tuple[dict[uuid.UUID, dict[str, object]], list[list[httpx.Response]]]:
    headers = await staff_headers(database, restaurant)
    body = None if max_party_size is None else {"maxPartySize": max_party_size}
    async with storm_client(server.base_url, CALLERS) as client:
        joined = await fill_queue(client, restaurant)
        callers = [
            Caller(client, f"{restaurant.admin}/queue/call-next", headers[i % len(headers)], body)
            for i in range(CALLERS)
        ]
        answered, wall_seconds = await drain(callers, max_calls_each=ENTRIES + 1)

    called = [
        response.json()["id"] for answers in answered for response in answers if response.status_code == 200
    ]
    record_figures(
        "call-next-race" if max_party_size is None else f"call-next-race-max-party-{max_party_size}",
        database_url=database_url,
        requests=sum(len(answers) for answers in answered),
        wall_seconds=wall_seconds,
        callers=CALLERS,
        entries=ENTRIES,
        calls_answered_200=len(called),
        duplicate_calls=duplicates(called),
    )
    return joined, answered


async def test_racing_callers_call_every_entry_exactly_once(
    server: Server, database: Database, restaurant: StaffRestaurant, database_url: str
) -> None:
    joined, answered = await race_call_next(server, database, restaurant, database_url, max_party_size=None)

    called = assert_each_caller_drained_in_token_order(answered)
    called_ids = [uuid.UUID(str(entry["id"])) for entry in called]
    assert len(called_ids) == ENTRIES
    assert set(called_ids) == set(joined)

    stored = await stored_entries(database, restaurant.restaurant.id)
    assert {entry.id for entry in stored} == set(joined)
    assert {entry.status for entry in stored} == {"called"}
    assert all(entry.called_at is not None and entry.finished_at is None for entry in stored)


async def test_racing_callers_with_a_table_size_call_each_fitting_entry_once_and_leave_the_rest(
    server: Server, database: Database, restaurant: StaffRestaurant, database_url: str
) -> None:
    max_party_size = 3
    joined, answered = await race_call_next(
        server, database, restaurant, database_url, max_party_size=max_party_size
    )

    called = assert_each_caller_drained_in_token_order(answered)
    fitting = {
        entry_id for entry_id, entry in joined.items() if int(str(entry["partySize"])) <= max_party_size
    }
    assert 0 < len(fitting) < ENTRIES
    called_ids = [uuid.UUID(str(entry["id"])) for entry in called]
    assert len(called_ids) == len(fitting)
    assert set(called_ids) == fitting

    stored = {entry.id: entry for entry in await stored_entries(database, restaurant.restaurant.id)}
    assert set(stored) == set(joined)
    assert {entry_id for entry_id, entry in stored.items() if entry.status == "called"} == fitting
    assert {entry_id for entry_id, entry in stored.items() if entry.status == "waiting"} == set(
        joined
    ) - fitting
