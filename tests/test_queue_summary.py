"""A queue's public summary (``GET /api/public/{slug}``): open or not, how many wait, who is served now."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import StaffRestaurant, join_body, make_restaurant
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio


async def summary(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> dict[str, object]:
    response = await client.get(restaurant.public)
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


async def test_an_empty_queue(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> None:
    assert await summary(client, restaurant) == {
        "slug": "luigis",
        "name": "Luigis",
        "open": True,
        "waitingCount": 0,
        "nowServing": None,
    }


async def test_waiting_count_and_now_serving_follow_the_queue(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    ids = [
        (await client.post(f"{restaurant.public}/queue", json=join_body(i))).json()["id"] for i in range(4)
    ]
    seen = [await summary(client, restaurant)]

    await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
    seen.append(await summary(client, restaurant))
    await client.post(f"{restaurant.admin}/queue/{ids[0]}/seat", headers=restaurant.headers)
    seen.append(await summary(client, restaurant))
    await client.delete(f"{restaurant.public}/queue/{ids[1]}")
    seen.append(await summary(client, restaurant))
    await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
    seen.append(await summary(client, restaurant))

    assert [(s["waitingCount"], s["nowServing"]) for s in seen] == [
        (4, None),
        (3, 1),
        (3, 1),  # seating the called party does not change who was called last
        (2, 1),  # a guest who leaves no longer waits
        (1, 3),  # token 2 left, so 3 is next
    ]


async def test_a_paused_queue_shows_as_closed(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> None:
    await client.post(f"{restaurant.public}/queue", json=join_body(1))

    await client.post(f"{restaurant.admin}/queue/pause", headers=restaurant.headers)
    paused = await summary(client, restaurant)
    await client.post(f"{restaurant.admin}/queue/resume", headers=restaurant.headers)
    resumed = await summary(client, restaurant)

    assert (paused["open"], paused["waitingCount"]) == (False, 1)
    assert (resumed["open"], resumed["waitingCount"]) == (True, 1)


async def test_each_restaurant_counts_only_its_own_queue(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    other = await make_restaurant(database, slug="marios")
    for index in range(3):
        await client.post(f"{other.public}/queue", json=join_body(index))
    await client.post(f"{other.admin}/queue/call-next", headers=other.headers)

    assert (await summary(client, restaurant))["waitingCount"] == 0
    assert (await summary(client, restaurant))["nowServing"] is None
    assert (await summary(client, other))["waitingCount"] == 2
    assert (await summary(client, other))["name"] == "Marios"


async def test_the_summary_holds_no_personal_data(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    await client.post(
        f"{restaurant.public}/queue", json=join_body(1, name="Ada Lovelace", mobileNumber="+447911123456")
    )
    await client.post(f"{restaurant.public}/queue", json=join_body(2, name="Grace Hopper"))
    await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)

    response = await client.get(restaurant.public)

    assert set(response.json()) == {"slug", "name", "open", "waitingCount", "nowServing"}
    for personal in ("Ada", "Lovelace", "Grace", "Hopper", "7911", "+1415"):
        assert personal not in response.text


async def test_an_unknown_restaurant_is_404(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> None:
    response = await client.get("/api/public/nobody-here")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:waitline:problem:restaurant-not-found"
