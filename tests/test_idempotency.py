"""Idempotent joins (IETF Idempotency-Key draft): a replayed request gets its original entry, never a second.

The key travels in the body (``idempotencyKey``) or in the ``Idempotency-Key`` header; it is scoped to the
restaurant, and what must match for a replay is the normalised request (name, E.164 mobile, party size).
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import StaffRestaurant, join_body, make_restaurant
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio

REUSED = "urn:waitline:problem:idempotency-key-reused"


async def staff_entries(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> list[dict[str, object]]:
    response = await client.get(f"{restaurant.admin}/queue?status=all", headers=restaurant.headers)
    assert response.status_code == 200
    entries: list[dict[str, object]] = response.json()["entries"]
    return entries


@pytest.mark.parametrize("where", ["body", "header"])
async def test_a_replay_returns_the_original_entry_and_makes_no_second(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, where: str
) -> None:
    key = "a3f6c1d2-join-once"
    body = join_body(1, **({"idempotencyKey": key} if where == "body" else {}))
    headers = {"Idempotency-Key": key} if where == "header" else {}

    first = await client.post(f"{restaurant.public}/queue", json=body, headers=headers)
    second = await client.post(f"{restaurant.public}/queue", json=body, headers=headers)

    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    assert second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert len(await staff_entries(client, restaurant)) == 1


async def test_the_same_key_in_body_and_header_is_one_request(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    first = await client.post(f"{restaurant.public}/queue", json=join_body(1, idempotencyKey="k-1"))
    second = await client.post(
        f"{restaurant.public}/queue",
        json=join_body(1, idempotencyKey="k-1"),
        headers={"Idempotency-Key": "k-1"},
    )
    third = await client.post(
        f"{restaurant.public}/queue", json=join_body(1), headers={"Idempotency-Key": "k-1"}
    )

    assert first.status_code == 201
    assert (second.status_code, third.status_code) == (200, 200)
    assert second.json()["id"] == third.json()["id"] == first.json()["id"]
    assert len(await staff_entries(client, restaurant)) == 1


async def test_joins_without_a_key_are_never_deduplicated(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    first = await client.post(f"{restaurant.public}/queue", json=join_body(1))
    second = await client.post(f"{restaurant.public}/queue", json=join_body(1))

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert second.json()["tokenNumber"] == first.json()["tokenNumber"] + 1


@pytest.mark.parametrize(
    "change",
    [{"name": "Somebody Else"}, {"mobileNumber": "+14155559999"}, {"partySize": 6}],
    ids=["name", "mobile", "party-size"],
)
async def test_a_key_reused_with_a_different_body_is_refused(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, change: dict[str, object]
) -> None:
    original = join_body(1, partySize=2, idempotencyKey="k-reused")
    first = await client.post(f"{restaurant.public}/queue", json=original)
    reused = await client.post(f"{restaurant.public}/queue", json={**original, **change})

    assert first.status_code == 201
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["type"] == REUSED
    assert reused.json()["status"] == 422
    entries = await staff_entries(client, restaurant)
    assert [entry["id"] for entry in entries] == [first.json()["id"]]
    assert entries[0]["name"] == original["name"]


async def test_body_and_header_keys_that_differ_are_refused(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    response = await client.post(
        f"{restaurant.public}/queue",
        json=join_body(1, idempotencyKey="body-key"),
        headers={"Idempotency-Key": "header-key"},
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:waitline:problem:validation-failed"
    assert any("Idempotency-Key" in error["field"] for error in response.json()["errors"])
    assert await staff_entries(client, restaurant) == []


async def test_keys_are_scoped_per_restaurant(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    other = await make_restaurant(database, slug="marios")
    body = join_body(1, idempotencyKey="shared-key")

    at_luigis = await client.post(f"{restaurant.public}/queue", json=body)
    at_marios = await client.post(f"{other.public}/queue", json=body)

    assert (at_luigis.status_code, at_marios.status_code) == (201, 201)
    assert at_luigis.json()["id"] != at_marios.json()["id"]
    assert len(await staff_entries(client, restaurant)) == 1
    assert len(await staff_entries(client, other)) == 1


async def test_a_replay_after_the_entry_was_called_returns_it_as_called(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    body = join_body(1, idempotencyKey="k-called")
    first = await client.post(f"{restaurant.public}/queue", json=body)
    called = await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
    assert called.json()["id"] == first.json()["id"]

    replay = await client.post(f"{restaurant.public}/queue", json=body)

    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["tokenNumber"] == first.json()["tokenNumber"]
    assert replay.json()["status"] == "called"
    assert replay.json()["calledAt"] is not None
    assert replay.json()["position"] is None
    assert len(await staff_entries(client, restaurant)) == 1


async def test_a_replay_while_the_queue_is_paused_returns_the_original(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    body = join_body(1, idempotencyKey="k-paused")
    first = await client.post(f"{restaurant.public}/queue", json=body)
    paused = await client.post(f"{restaurant.admin}/queue/pause", headers=restaurant.headers)
    assert paused.json()["open"] is False

    replay = await client.post(f"{restaurant.public}/queue", json=body)
    fresh = await client.post(f"{restaurant.public}/queue", json=join_body(2, idempotencyKey="k-new"))

    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert fresh.status_code == 409
    assert fresh.json()["type"] == "urn:waitline:problem:queue-closed"


async def test_the_same_phone_written_nationally_is_the_same_request(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    # The restaurant's default region is GB, so "07911 123456" is +447911123456.
    first = await client.post(
        f"{restaurant.public}/queue",
        json=join_body(1, mobileNumber="+447911123456", idempotencyKey="k-phone"),
    )
    replay = await client.post(
        f"{restaurant.public}/queue",
        json=join_body(1, mobileNumber="07911 123456", idempotencyKey="k-phone"),
    )
    other_number = await client.post(
        f"{restaurant.public}/queue",
        json=join_body(1, mobileNumber="07911 123457", idempotencyKey="k-phone"),
    )

    assert first.status_code == 201
    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]
    assert other_number.status_code == 422
    assert other_number.json()["type"] == REUSED
    assert len(await staff_entries(client, restaurant)) == 1


async def test_a_replayed_key_takes_no_token(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> None:
    body = join_body(1, idempotencyKey="k-token")
    await client.post(f"{restaurant.public}/queue", json=body)
    await client.post(f"{restaurant.public}/queue", json=body)
    await client.post(f"{restaurant.public}/queue", json={**body, "partySize": 5})

    after = await client.post(f"{restaurant.public}/queue", json=join_body(2))

    assert after.status_code == 201
    assert after.json()["tokenNumber"] == 2
