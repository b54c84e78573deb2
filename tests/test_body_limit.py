"""Bodies over 64 KiB get 413 problem+json and change nothing, with a Content-Length or streamed without one.

A streamed (chunked) body declares no size, so the limit has to be enforced while reading it; and a route that
never reads its body (pause, seat, ...) must not act on an oversized one either.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Server, StaffRestaurant

pytestmark = pytest.mark.anyio

LIMIT = 64 * 1024
VALID = {"name": "Ada Lovelace", "mobileNumber": "+14155550101", "partySize": 2}
JSON = {"Content-Type": "application/json"}


def padded_join(size: int) -> bytes:
    """A valid join body, padded with JSON white space to exactly ``size`` bytes."""
    raw = json.dumps(VALID).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


async def streamed(body: bytes, chunk_size: int = 8 * 1024) -> AsyncIterator[bytes]:
    """The body as a stream of chunks: httpx sends it chunked, with no Content-Length."""
    for start in range(0, len(body), chunk_size):
        yield body[start : start + chunk_size]


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 413
    assert problem["title"] == "Content too large"
    assert str(LIMIT) in problem["detail"]
    assert "Traceback" not in response.text


def assert_sent_without_length(response: httpx.Response) -> None:
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"


async def assert_nothing_written(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> None:
    """No entry, the queue still open, and the next join gets token 1."""
    listed = await client.get(
        f"{restaurant.admin}/queue", params={"status": "all"}, headers=restaurant.headers
    )
    assert listed.json() == {"entries": [], "nextAfter": None}
    assert (await client.get(restaurant.public)).json()["open"] is True
    joined = await client.post(f"{restaurant.public}/queue", json=VALID)
    assert joined.status_code == 201, joined.text
    assert joined.json()["tokenNumber"] == 1


async def test_the_limit_is_64_kib(app: FastAPI) -> None:
    assert app.state.settings.max_body_bytes == LIMIT


async def test_a_declared_body_over_the_limit_is_413_and_writes_nothing(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    response = await client.post(f"{restaurant.public}/queue", content=padded_join(LIMIT + 1), headers=JSON)

    assert response.request.headers["content-length"] == str(LIMIT + 1)
    assert_too_large(response)
    await assert_nothing_written(client, restaurant)


async def test_a_declared_body_of_exactly_the_limit_is_read(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    response = await client.post(f"{restaurant.public}/queue", content=padded_join(LIMIT), headers=JSON)

    assert response.status_code == 201, response.text
    assert response.json()["tokenNumber"] == 1


@pytest.mark.parametrize("size", [LIMIT + 1, 4 * LIMIT, 16 * LIMIT])
async def test_a_streamed_join_over_the_limit_is_413_and_writes_nothing(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, size: int
) -> None:
    response = await client.post(
        f"{restaurant.public}/queue", content=streamed(padded_join(size)), headers=JSON
    )

    assert_sent_without_length(response)
    assert_too_large(response)
    await assert_nothing_written(client, restaurant)


async def test_a_streamed_join_of_exactly_the_limit_is_read(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    response = await client.post(
        f"{restaurant.public}/queue", content=streamed(padded_join(LIMIT)), headers=JSON
    )

    assert_sent_without_length(response)
    assert response.status_code == 201, response.text
    assert response.json()["tokenNumber"] == 1


async def test_a_streamed_body_over_the_limit_stops_routes_that_never_read_it(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    """Pause and call-next take no (or an optional) body: an oversized one must still stop them."""
    oversized = b" " * (LIMIT + 1)
    headers = {**restaurant.headers, **JSON}
    waiting = await client.post(f"{restaurant.public}/queue", json=VALID)

    paused = await client.post(
        f"{restaurant.admin}/queue/pause", content=streamed(oversized), headers=headers
    )
    called = await client.post(
        f"{restaurant.admin}/queue/call-next", content=streamed(oversized), headers=headers
    )
    cancelled = await client.post(
        f"{restaurant.admin}/queue/{waiting.json()['id']}/cancel",
        content=streamed(oversized),
        headers=headers,
    )

    for response in (paused, called, cancelled):
        assert_sent_without_length(response)
        assert_too_large(response)
    assert (await client.get(restaurant.public)).json()["open"] is True
    listed = await client.get(
        f"{restaurant.admin}/queue", params={"status": "all"}, headers=restaurant.headers
    )
    assert [entry["status"] for entry in listed.json()["entries"]] == ["waiting"]


async def test_a_real_server_refuses_streamed_and_declared_oversized_bodies(
    server: Server, restaurant: StaffRestaurant
) -> None:
    """Through uvicorn, where the body really arrives in chunks: 413, nothing written, server still fine."""
    headers = {**restaurant.headers, **JSON}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        joined = await client.post(
            f"{restaurant.public}/queue", content=streamed(padded_join(LIMIT + 1024)), headers=JSON
        )
        paused = await client.post(
            f"{restaurant.admin}/queue/pause", content=streamed(b" " * (LIMIT + 1024)), headers=headers
        )
        declared = await client.post(
            f"{restaurant.public}/queue", content=padded_join(LIMIT + 1), headers=JSON
        )

        for response in (joined, paused):
            assert_sent_without_length(response)
        for response in (joined, paused, declared):
            assert_too_large(response)

        within = await client.post(
            f"{restaurant.public}/queue", content=streamed(padded_join(LIMIT)), headers=JSON
        )
        assert within.status_code == 201, within.text
        assert within.json()["tokenNumber"] == 1
        assert (await client.get(restaurant.public)).json()["open"] is True
        listed = await client.get(
            f"{restaurant.admin}/queue", params={"status": "all"}, headers=restaurant.headers
        )
        assert [entry["tokenNumber"] for entry in listed.json()["entries"]] == [1]
    assert "Traceback" not in server.output()
