"""A storm of joins through a real server: every guest gets a token, and the tokens are exactly 1..N."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import Server, StaffRestaurant, join_body
from tests.load import duplicates, field, fire, last_token, record_figures, stored_entries, storm_client
from waitline.store.engine import Database

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

JOINS = 200


async def test_concurrent_joins_get_tokens_one_to_n_without_duplicates_or_gaps(
    server: Server, database: Database, restaurant: StaffRestaurant, database_url: str
) -> None:
    async with storm_client(server.base_url, JOINS) as client:
        storm = await fire(
            [
                (client, client.build_request("POST", f"{restaurant.public}/queue", json=join_body(i)))
                for i in range(JOINS)
            ]
        )
        listed = await client.get(
            f"{restaurant.admin}/queue?status=all&limit=1000", headers=restaurant.headers
        )

    tokens = [field(response, "tokenNumber") for response in storm.responses]
    record_figures(
        "join-storm",
        database_url=database_url,
        requests=JOINS,
        wall_seconds=storm.wall_seconds,
        statuses=storm.statuses(),
        duplicate_tokens=duplicates(tokens),
    )
    assert storm.statuses() == {201: JOINS}, [r.text for r in storm.responses if r.status_code != 201][:3]
    assert sorted(tokens) == list(range(1, JOINS + 1))
    ids = {uuid.UUID(response.json()["id"]) for response in storm.responses}
    assert len(ids) == JOINS
    # Each guest got the entry made of its own request.
    assert all(response.json()["name"] == join_body(i)["name"] for i, response in enumerate(storm.responses))

    # The database holds exactly what the guests were told, and the counter stopped at N.
    stored = await stored_entries(database, restaurant.restaurant.id)
    assert {(entry.id, entry.token_number) for entry in stored} == {
        (uuid.UUID(response.json()["id"]), response.json()["tokenNumber"]) for response in storm.responses
    }
    assert [entry.token_number for entry in stored] == list(range(1, JOINS + 1))
    assert {entry.status for entry in stored} == {"waiting"}
    assert await last_token(database, restaurant.restaurant.id) == JOINS

    # The staff list agrees, positions included: the waiting guests are 1..N in token order.
    assert listed.status_code == 200
    entries = listed.json()["entries"]
    assert [entry["tokenNumber"] for entry in entries] == list(range(1, JOINS + 1))
    assert [entry["position"] for entry in entries] == list(range(1, JOINS + 1))
    assert {uuid.UUID(entry["id"]) for entry in entries} == ids
