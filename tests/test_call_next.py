"""Calling the next party: lowest waiting token first, optionally the first that fits a table, else 204."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from tests.conftest import StaffRestaurant, join_body, make_restaurant
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio


async def join_parties(client: httpx.AsyncClient, restaurant: StaffRestaurant, *sizes: int) -> list[str]:
    ids = []
    for index, size in enumerate(sizes):
        response = await client.post(f"{restaurant.public}/queue", json=join_body(index, partySize=size))
        assert response.status_code == 201
        ids.append(response.json()["id"])
    return ids


async def call_next(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, max_party_size: int | None = None
) -> httpx.Response:
    body = None if max_party_size is None else {"maxPartySize": max_party_size}
    return await client.post(f"{restaurant.admin}/queue/call-next", json=body, headers=restaurant.headers)


async def test_parties_are_called_in_the_order_they_joined(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    ids = await join_parties(client, restaurant, 2, 4, 1, 3)

    called = [(await call_next(client, restaurant)).json() for _ in ids]

    assert [entry["id"] for entry in called] == ids
    assert [entry["tokenNumber"] for entry in called] == [1, 2, 3, 4]
    assert all(entry["status"] == "called" for entry in called)


async def test_a_called_entry_has_called_at_and_no_position(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    (entry_id,) = await join_parties(client, restaurant, 2)

    response = await call_next(client, restaurant)

    assert response.status_code == 200
    called = response.json()
    assert called["id"] == entry_id
    assert called["calledAt"] is not None
    assert datetime.fromisoformat(called["calledAt"]) >= datetime.fromisoformat(called["createdAt"])
    assert called["position"] is None
    assert called["mobileNumber"] == join_body(0)["mobileNumber"]
    guest_view = (await client.get(f"{restaurant.public}/queue/{entry_id}")).json()
    assert guest_view["status"] == "called"
    assert guest_view["calledAt"] is not None


async def test_nobody_waiting_is_204_with_an_empty_body(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    empty = await call_next(client, restaurant)
    await join_parties(client, restaurant, 2)
    await call_next(client, restaurant)
    all_called = await call_next(client, restaurant)

    for response in (empty, all_called):
        assert response.status_code == 204
        assert response.content == b""


async def test_max_party_size_skips_larger_parties_and_keeps_their_place(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    six, two, four, one = await join_parties(client, restaurant, 6, 2, 4, 1)

    for_two = await call_next(client, restaurant, max_party_size=2)
    for_four = await call_next(client, restaurant, max_party_size=4)
    six_view = (await client.get(f"{restaurant.public}/queue/{six}")).json()
    any_size = await call_next(client, restaurant)

    assert for_two.json()["id"] == two
    assert for_four.json()["id"] == four
    # The party of six was passed over twice and is still first in line.
    assert six_view["status"] == "waiting"
    assert six_view["position"] == 1
    assert any_size.json()["id"] == six
    remaining = (await client.get(f"{restaurant.public}/queue/{one}")).json()
    assert remaining["position"] == 1


async def test_max_party_size_counts_a_party_of_exactly_that_size(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    (four,) = await join_parties(client, restaurant, 4)

    too_small = await call_next(client, restaurant, max_party_size=3)
    exact = await call_next(client, restaurant, max_party_size=4)

    assert too_small.status_code == 204
    assert exact.json()["id"] == four


async def test_nobody_fitting_is_204_and_leaves_the_queue_alone(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    ids = await join_parties(client, restaurant, 5, 6)

    response = await call_next(client, restaurant, max_party_size=4)

    assert response.status_code == 204
    assert response.content == b""
    listed = (await client.get(f"{restaurant.admin}/queue", headers=restaurant.headers)).json()["entries"]
    assert [(entry["id"], entry["status"], entry["position"]) for entry in listed] == [
        (ids[0], "waiting", 1),
        (ids[1], "waiting", 2),
    ]


async def test_the_rest_move_up_when_a_party_is_called(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    ids = await join_parties(client, restaurant, 1, 2, 3, 4)

    await call_next(client, restaurant)
    after_one = [(await client.get(f"{restaurant.public}/queue/{i}")).json()["position"] for i in ids]
    await call_next(client, restaurant)
    after_two = [(await client.get(f"{restaurant.public}/queue/{i}")).json()["position"] for i in ids]

    assert after_one == [None, 1, 2, 3]
    assert after_two == [None, None, 1, 2]
    waiting = (await client.get(f"{restaurant.admin}/queue", headers=restaurant.headers)).json()["entries"]
    assert [(entry["id"], entry["position"]) for entry in waiting] == [(ids[2], 1), (ids[3], 2)]


async def test_call_next_only_calls_this_restaurants_guests(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    other = await make_restaurant(database, slug="marios")
    (at_marios,) = await join_parties(client, other, 2)

    at_luigis = await call_next(client, restaurant)

    assert at_luigis.status_code == 204
    assert (await client.get(f"{other.public}/queue/{at_marios}")).json()["status"] == "waiting"
    assert (await call_next(client, other)).json()["id"] == at_marios
