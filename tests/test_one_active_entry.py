"""A mobile number holds at most one active (waiting or called) entry per restaurant.

A second join by the same number, with another idempotency key or none, is refused with 409 and learns
nothing about the entry that exists (whoever has the number must not be able to find the party's place).
Once that entry is over (seated, no-show, cancelled, left), the number may join again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.conftest import Server, StaffRestaurant, join_body, make_restaurant
from tests.load import fire, stored_entries, storm_client, warm_up
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio

ALREADY_IN_QUEUE = "urn:waitline:problem:already-in-queue"
MOBILE = "+447911123456"
CONCURRENT_JOINS = 20


async def join(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, key: str | None = None, **overrides: object
) -> httpx.Response:
    body = join_body(1, **{"name": "Ada Lovelace", "mobileNumber": MOBILE, "partySize": 3, **overrides})
    if key is not None:
        body["idempotencyKey"] = key
    return await client.post(f"{restaurant.public}/queue", json=body)


def assert_reveals_nothing(refused: httpx.Response, existing: dict[str, object]) -> None:
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert set(problem) == {"type", "title", "status", "detail"}
    assert (problem["type"], problem["status"]) == (ALREADY_IN_QUEUE, 409)
    # Nowhere in the answer (the request id is random, and ours): no id, name, number, token or position.
    headers = [f"{name}: {value}" for name, value in refused.headers.items() if name != "x-request-id"]
    said = refused.text + "\n".join(headers)
    for secret in (existing["id"], existing["name"], "7911", "123456"):
        assert str(secret) not in said, secret
    assert not any(char.isdigit() for char in str(problem["detail"]) + str(problem["title"]))


async def call_next(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> dict[str, object]:
    response = await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
    assert response.status_code == 200, response.text
    called: dict[str, object] = response.json()
    return called


# The second join: another key or none; the number as before or written otherwise (the restaurant is in GB).
SECOND_JOINS = [
    ("another-key", MOBILE),
    (None, MOBILE),
    ("national", "07911 123456"),
    (None, "+44 7911 123 456"),
]


async def test_a_second_join_by_the_same_number_is_409_and_reveals_nothing(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    first = await join(client, restaurant, "first-key")
    assert first.status_code == 201

    for key, written_as in SECOND_JOINS:
        refused = await join(
            client, restaurant, key, name="Someone Else", partySize=2, mobileNumber=written_as
        )
        assert_reveals_nothing(refused, first.json())

    assert len(await staff_entries(client, restaurant)) == 1


async def test_a_called_entry_is_active_too(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> None:
    first = await join(client, restaurant, "first-key")
    assert (await call_next(client, restaurant))["id"] == first.json()["id"]

    assert_reveals_nothing(await join(client, restaurant, "second-key"), first.json())


async def test_once_the_entry_is_over_the_number_may_join_again(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    for token, ending in enumerate(["seat", "no-show", "cancel", "leave"], start=1):
        entry = await join(client, restaurant, f"key-{token}")
        assert (entry.status_code, entry.json()["tokenNumber"]) == (201, token), ending
        assert_reveals_nothing(await join(client, restaurant, f"again-{token}"), entry.json())
        if ending in ("seat", "no-show"):
            await call_next(client, restaurant)
        if ending == "leave":
            ended = await client.delete(f"{restaurant.public}/queue/{entry.json()['id']}")
        else:
            path = f"{restaurant.admin}/queue/{entry.json()['id']}/{ending}"
            ended = await client.post(path, headers=restaurant.headers)
        assert ended.status_code == 200, ended.text

    assert (await join(client, restaurant, "last-key")).json()["tokenNumber"] == 5


async def test_the_same_number_may_be_active_at_another_restaurant(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database
) -> None:
    marios = await make_restaurant(database, "marios")

    assert (await join(client, restaurant, "same-key")).status_code == 201
    assert (await join(client, marios, "same-key")).status_code == 201
    assert (await join(client, marios, "other-key")).status_code == 409


async def test_a_replay_of_the_first_join_still_returns_its_entry(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    first = await join(client, restaurant, "first-key")
    assert (await join(client, restaurant, "second-key")).status_code == 409

    replay = await join(client, restaurant, "first-key")

    assert replay.status_code == 200
    assert replay.json() == first.json()


async def test_the_database_itself_refuses_a_second_active_entry_for_a_number(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database
) -> None:
    """The check under the counter lock is what answers 409; this unique index is its backstop."""
    first = await join(client, restaurant, "first-key")
    assert first.status_code == 201
    copy = text(
        """
        INSERT INTO queue_entry (id, restaurant_id, token_number, name, mobile, party_size, status)
        SELECT :id, restaurant_id, token_number + :offset, name, mobile, party_size, :status
        FROM queue_entry WHERE id = :first_id
        """
    )

    async def insert_copy(status: str, offset: int) -> None:
        params = {"id": str(uuid.uuid4()), "offset": offset, "status": status, "first_id": first.json()["id"]}
        if database.engine.dialect.name == "postgresql":
            params["id"], params["first_id"] = uuid.UUID(params["id"]), uuid.UUID(params["first_id"])
        async with database.transaction() as connection:
            await connection.execute(copy, params)

    for offset, status in enumerate(["waiting", "called"], start=1):
        with pytest.raises(IntegrityError, match=r"queue_entry_active_mobile_key|UNIQUE constraint failed"):
            await insert_copy(status, offset)
    for offset, status in enumerate(["seated", "cancelled", "no_show"], start=10):
        await insert_copy(status, offset)  # entries that are over may repeat a number

    assert len(await stored_entries(database, restaurant.restaurant.id)) == 4


async def test_concurrent_joins_of_one_number_make_exactly_one_entry(
    server_factory: Callable[..., Server], database_url: str, restaurant: StaffRestaurant, database: Database
) -> None:
    server = server_factory(database_url)
    path = f"{restaurant.public}/queue"
    async with storm_client(server.base_url, CONCURRENT_JOINS) as client:
        await warm_up(client, CONCURRENT_JOINS)
        storm = await fire(
            [
                (
                    client,
                    client.build_request(
                        "POST",
                        path,
                        json=join_body(i, mobileNumber=MOBILE, idempotencyKey=f"storm-{i}"),
                    ),
                )
                for i in range(CONCURRENT_JOINS)
            ]
        )
        winners = [(i, r) for i, r in enumerate(storm.responses) if r.status_code == 201]
        assert storm.statuses() == {201: 1, 409: CONCURRENT_JOINS - 1}, [r.text for r in storm.responses][:3]
        [(index, winner)] = winners
        replay = await client.post(
            path, json=join_body(index, mobileNumber=MOBILE, idempotencyKey=f"storm-{index}")
        )

    assert {r.json()["type"] for r in storm.responses if r.status_code == 409} == {ALREADY_IN_QUEUE}
    assert replay.status_code == 200
    assert replay.json() == winner.json()
    stored = await stored_entries(database, restaurant.restaurant.id)
    assert [(entry.id, entry.token_number) for entry in stored] == [(uuid.UUID(winner.json()["id"]), 1)]


async def staff_entries(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> list[dict[str, object]]:
    response = await client.get(f"{restaurant.admin}/queue?status=all", headers=restaurant.headers)
    assert response.status_code == 200
    entries: list[dict[str, object]] = response.json()["entries"]
    return entries
