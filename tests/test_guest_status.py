"""What a guest sees of their entry: its place in line as it moves, no mobile number, an unguessable id."""

from __future__ import annotations

import itertools
import uuid

import httpx
import pytest

from tests.conftest import StaffRestaurant, join_body, make_restaurant
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio


async def test_the_guest_sees_their_position_move_up_as_others_are_called(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    for index in range(3):
        await client.post(f"{restaurant.public}/queue", json=join_body(index))
    mine = (await client.post(f"{restaurant.public}/queue", json=join_body(9, name="Ada"))).json()
    url = f"{restaurant.public}/queue/{mine['id']}"

    seen = [(await client.get(url)).json()]
    for _ in range(4):
        await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
        seen.append((await client.get(url)).json())

    assert [(entry["status"], entry["position"]) for entry in seen] == [
        ("waiting", 4),
        ("waiting", 3),
        ("waiting", 2),
        ("waiting", 1),
        ("called", None),
    ]
    assert all(entry["tokenNumber"] == mine["tokenNumber"] == 4 for entry in seen)
    assert seen[0]["calledAt"] is None
    assert seen[-1]["calledAt"] is not None
    assert seen[-1]["name"] == "Ada"


async def test_parties_that_join_later_do_not_change_the_guests_position(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    await client.post(f"{restaurant.public}/queue", json=join_body(0))
    mine = (await client.post(f"{restaurant.public}/queue", json=join_body(1))).json()
    for index in range(2, 5):
        await client.post(f"{restaurant.public}/queue", json=join_body(index))

    entry = (await client.get(f"{restaurant.public}/queue/{mine['id']}")).json()

    assert entry["position"] == 2


async def test_guests_never_see_a_mobile_number(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    national, e164 = "07911 123456", "+447911123456"
    joined = await client.post(f"{restaurant.public}/queue", json=join_body(1, mobileNumber=national))
    entry_url = f"{restaurant.public}/queue/{joined.json()['id']}"
    viewed = await client.get(entry_url)
    summary = await client.get(restaurant.public)
    await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
    viewed_called = await client.get(entry_url)
    left = await client.delete(entry_url)

    for response in (joined, viewed, summary, viewed_called, left):
        assert response.status_code in {200, 201}
        assert "mobileNumber" not in response.json()
        assert "mobile" not in response.text.lower()
        for number in (national, e164, "7911123456", "7911 123456"):
            assert number not in response.text


# Decided in the web layer, whatever the database: one backend is enough.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_guest_view_has_exactly_the_public_fields(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    joined = await client.post(f"{restaurant.public}/queue", json=join_body(1))
    viewed = await client.get(f"{restaurant.public}/queue/{joined.json()['id']}")

    expected = {"id", "tokenNumber", "status", "position", "name", "partySize", "createdAt", "calledAt"}
    assert set(joined.json()) == expected
    assert set(viewed.json()) == expected


async def test_entry_ids_are_random_uuid4_not_sequential(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    ids = [
        uuid.UUID((await client.post(f"{restaurant.public}/queue", json=join_body(index))).json()["id"])
        for index in range(12)
    ]

    assert all(entry_id.version == 4 and entry_id.variant == uuid.RFC_4122 for entry_id in ids)
    assert len(set(ids)) == len(ids)
    # Time-ordered or counted ids would sort in join order; 12 random ones do so once in 479 million.
    assert sorted(ids) != ids
    assert sorted(ids, key=str) != ids
    gaps = {abs(a.int - b.int) for a, b in itertools.pairwise(ids)}
    assert min(gaps) > 2**64


async def test_an_unknown_entry_is_404(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> None:
    response = await client.get(f"{restaurant.public}/queue/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.json()["type"] == "urn:waitline:problem:entry-not-found"


async def test_an_entry_is_not_visible_under_another_restaurants_slug(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    other = await make_restaurant(database, slug="marios")
    joined = await client.post(f"{restaurant.public}/queue", json=join_body(1))

    through_other = await client.get(f"{other.public}/queue/{joined.json()['id']}")
    through_unknown = await client.get(f"/api/public/nobody-here/queue/{joined.json()['id']}")

    for response in (through_other, through_unknown):
        assert response.status_code == 404
        assert response.json()["type"] == "urn:waitline:problem:entry-not-found"
        assert "Guest 1" not in response.text
