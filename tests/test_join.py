"""Joining a queue: the entry a guest gets, tokens in order, and what a join is refused for."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import CLIENT_IP, StaffRestaurant, join_body, make_restaurant
from waitline.domain import JoinRequest
from waitline.services import Services
from waitline.store import joins
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio


async def test_a_join_returns_the_entry_with_token_and_position(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    response = await client.post(f"{restaurant.public}/queue", json=join_body(name="Ada", partySize=2))

    assert response.status_code == 201
    entry = response.json()
    assert entry["tokenNumber"] == 1
    assert entry["position"] == 1
    assert entry["status"] == "waiting"
    assert entry["name"] == "Ada"
    assert entry["partySize"] == 2
    assert entry["calledAt"] is None
    assert "mobileNumber" not in entry


async def test_tokens_count_up_and_positions_follow(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    entries = [(await client.post(f"{restaurant.public}/queue", json=join_body(i))).json() for i in range(3)]

    assert [entry["tokenNumber"] for entry in entries] == [1, 2, 3]
    assert [entry["position"] for entry in entries] == [1, 2, 3]


async def test_a_rolled_back_join_gives_its_token_and_its_event_seq_back(
    database: Database, restaurant: StaffRestaurant
) -> None:
    request = JoinRequest(
        slug="luigis", name="Ada", mobile="+14155550101", party_size=2, idempotency_key=None
    )

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with database.transaction() as connection:
            outcome = await joins.join(connection=connection, request=request)
            assert outcome.entry.token_number == 1
            assert outcome.event is not None and outcome.event.seq == 1
            raise Abort

    services = Services(database=database)
    result = await services.queue.join(
        client_ip=CLIENT_IP,
        slug="luigis",
        name="Ada",
        mobile="+14155550101",
        party_size=2,
        idempotency_key=None,
    )
    assert result.entry.token_number == 1
    page = await services.events.page(restaurant_id=restaurant.restaurant.id, after=0, limit=10)
    assert [(event.seq, event.type, event.token_number) for event in page.events] == [(1, "joined", 1)]


async def test_joining_an_unknown_restaurant_is_404(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    response = await client.post("/api/public/nobody-here/queue", json=join_body())

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:waitline:problem:restaurant-not-found"


async def test_a_paused_queue_refuses_joins_until_resumed(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    paused = await client.post(f"{restaurant.admin}/queue/pause", headers=restaurant.headers)
    refused = await client.post(f"{restaurant.public}/queue", json=join_body(1))
    summary_while_paused = (await client.get(restaurant.public)).json()
    resumed = await client.post(f"{restaurant.admin}/queue/resume", headers=restaurant.headers)
    accepted = await client.post(f"{restaurant.public}/queue", json=join_body(1))

    assert paused.status_code == 200
    assert paused.json()["open"] is False
    assert refused.status_code == 409
    assert refused.json()["type"] == "urn:waitline:problem:queue-closed"
    assert summary_while_paused["open"] is False
    assert summary_while_paused["waitingCount"] == 0
    assert resumed.status_code == 200
    assert resumed.json()["open"] is True
    assert accepted.status_code == 201
    # The refused join took no token.
    assert accepted.json()["tokenNumber"] == 1


async def test_pausing_keeps_the_waiting_guests(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    joined = await client.post(f"{restaurant.public}/queue", json=join_body(1))
    await client.post(f"{restaurant.admin}/queue/pause", headers=restaurant.headers)

    called = await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)

    assert called.status_code == 200
    assert called.json()["id"] == joined.json()["id"]


async def test_national_numbers_need_the_restaurants_default_region(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    international_only = await make_restaurant(database, slug="worldwide", region=None)

    national_there = await client.post(
        f"{international_only.public}/queue", json=join_body(1, mobileNumber="07911 123456")
    )
    international_there = await client.post(
        f"{international_only.public}/queue", json=join_body(1, mobileNumber="+447911123456")
    )
    national_in_gb = await client.post(
        f"{restaurant.public}/queue", json=join_body(1, mobileNumber="07911 123456")
    )

    assert national_there.status_code == 422
    assert national_there.json()["type"] == "urn:waitline:problem:invalid-mobile-number"
    assert "+" in national_there.json()["detail"]
    assert international_there.status_code == 201
    assert national_in_gb.status_code == 201


async def test_the_staff_see_the_mobile_number_in_e164(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    written = ["07911 123456", "07911123456", "+44 7911 123456", "+44 (0)7911 123-456", "0044 7911 123456"]
    for index, mobile in enumerate(written):
        joined = await client.post(f"{restaurant.public}/queue", json=join_body(index, mobileNumber=mobile))
        assert joined.status_code == 201, mobile
        # One active entry per number: the guest leaves before the next spelling joins.
        left = await client.delete(f"{restaurant.public}/queue/{joined.json()['id']}")
        assert left.status_code == 200

    listed = await client.get(f"{restaurant.admin}/queue?status=all", headers=restaurant.headers)

    assert [entry["mobileNumber"] for entry in listed.json()["entries"]] == ["+447911123456"] * len(written)
