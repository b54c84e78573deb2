"""The staff list pages through every entry in token order with a cursor: ``after`` the last token seen,
``nextAfter`` in each answer until the last page. Positions stay those of the whole queue on every page."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import StaffRestaurant, join_body

pytestmark = pytest.mark.anyio


async def every_page(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, status: str, limit: int
) -> list[list[dict[str, Any]]]:
    pages, after = [], 0
    while True:
        response = await client.get(
            f"{restaurant.admin}/queue",
            params={"status": status, "limit": limit, "after": after},
            headers=restaurant.headers,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["entries"])
        if body["nextAfter"] is None:
            return pages
        assert body["nextAfter"] == body["entries"][-1]["tokenNumber"]
        after = body["nextAfter"]


async def test_a_cursor_pages_through_every_entry_once_in_token_order(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    for index in range(25):
        assert (await client.post(f"{restaurant.public}/queue", json=join_body(index))).status_code == 201
    for _ in range(5):
        await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)

    everyone = await every_page(client, restaurant, "all", limit=10)
    waiting = await every_page(client, restaurant, "waiting", limit=7)

    assert [len(page) for page in everyone] == [10, 10, 5]
    assert [entry["tokenNumber"] for page in everyone for entry in page] == list(range(1, 26))
    assert [entry["position"] for page in everyone for entry in page] == [None] * 5 + list(range(1, 21))
    assert [len(page) for page in waiting] == [7, 7, 6]
    assert [entry["tokenNumber"] for page in waiting for entry in page] == list(range(6, 26))
    assert [entry["position"] for page in waiting for entry in page] == list(range(1, 21))


async def test_a_page_that_ends_exactly_at_the_last_entry_says_so_on_the_next(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    for index in range(4):
        await client.post(f"{restaurant.public}/queue", json=join_body(index))

    pages = await every_page(client, restaurant, "waiting", limit=4)

    assert [len(page) for page in pages] == [4]


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "after=-1", "after=x", "status=gone"])
async def test_a_bad_cursor_or_limit_is_a_problem(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, query: str
) -> None:
    response = await client.get(f"{restaurant.admin}/queue?{query}", headers=restaurant.headers)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
