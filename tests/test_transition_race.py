"""Two staff acting on one called entry at the same moment: one wins with 200, the other is told 409."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import Server, StaffRestaurant, join_body
from tests.load import fire, record_figures, stored_entries, storm_client
from waitline.services import Services
from waitline.store.engine import Database

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ENTRIES = 45
# The pairs of actions raced on each entry, in turn; every one of them needs the entry to be `called`.
PAIRS = [("seat", "seat"), ("seat", "no-show"), ("no-show", "cancel")]
TARGET = {"seat": "seated", "no-show": "no_show", "cancel": "cancelled"}


async def test_two_actions_racing_on_an_entry_one_wins_and_the_other_gets_409(
    server: Server, database: Database, restaurant: StaffRestaurant, database_url: str
) -> None:
    second_token = await Services(database=database).accounts.create_api_token(slug="luigis")
    second_staff = {"Authorization": f"Bearer {second_token}"}
    async with storm_client(server.base_url, 2 * ENTRIES) as client:
        for i in range(ENTRIES):
            assert (await client.post(f"{restaurant.public}/queue", json=join_body(i))).status_code == 201
            assert (
                await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
            ).status_code == 200
        stored = await stored_entries(database, restaurant.restaurant.id)
        assert [entry.status for entry in stored] == ["called"] * ENTRIES

        planned: list[tuple[uuid.UUID, str]] = []
        requests = []
        for i, entry in enumerate(stored):
            for action, headers in zip(
                PAIRS[i % len(PAIRS)], (restaurant.headers, second_staff), strict=True
            ):
                planned.append((entry.id, action))
                url = f"{restaurant.admin}/queue/{entry.id}/{action}"
                requests.append((client, client.build_request("POST", url, headers=headers)))
        storm = await fire(requests)

    record_figures(
        "transition-race",
        database_url=database_url,
        requests=len(requests),
        wall_seconds=storm.wall_seconds,
        statuses=storm.statuses(),
        entries_with_two_winners=sum(
            1
            for i in range(0, len(planned), 2)
            if storm.responses[i].status_code == storm.responses[i + 1].status_code == 200
        ),
    )
    winners: dict[uuid.UUID, str] = {}
    for i in range(0, len(planned), 2):
        entry_id = planned[i][0]
        pair = [(planned[i][1], storm.responses[i]), (planned[i + 1][1], storm.responses[i + 1])]
        statuses = sorted(response.status_code for _, response in pair)
        assert statuses == [200, 409], (entry_id, pair, statuses)
        ((winning_action, won),) = [
            (action, response) for action, response in pair if response.status_code == 200
        ]
        ((_, lost),) = [(action, response) for action, response in pair if response.status_code == 409]
        assert lost.json()["type"] == "urn:waitline:problem:transition-not-allowed"
        assert won.json()["id"] == str(entry_id)
        assert won.json()["status"] == TARGET[winning_action]
        winners[entry_id] = TARGET[winning_action]

    # The database ends where the winner left it, and the loser changed nothing after.
    final = {entry.id: entry for entry in await stored_entries(database, restaurant.restaurant.id)}
    assert {entry_id: entry.status for entry_id, entry in final.items()} == winners
    assert all(entry.finished_at is not None for entry in final.values())
