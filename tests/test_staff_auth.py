"""Staff endpoints need a bearer token of the very restaurant in the path; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import StaffRestaurant, join_body, make_restaurant
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio

# (method, path under the restaurant's admin prefix) of every staff endpoint that takes no entry id.
ENDPOINTS = [
    ("POST", "/queue/call-next"),
    ("GET", "/queue"),
    ("POST", "/queue/pause"),
    ("POST", "/queue/resume"),
]
ENTRY_ACTIONS = ["seat", "no-show", "cancel"]

BAD_CREDENTIALS: dict[str, dict[str, str]] = {
    "no-header": {},
    "wrong-scheme": {"Authorization": "Basic bHVpZ2k6c2VjcmV0"},
    "token-without-scheme": {"Authorization": "wl_not-a-real-token"},
    "empty-bearer": {"Authorization": "Bearer "},
    "unknown-token": {"Authorization": "Bearer wl_not-a-real-token"},
}


async def snapshot(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> tuple[object, ...]:
    """What a staff request could change: the entries (with status) and whether the queue is open."""
    entries = (await client.get(f"{restaurant.admin}/queue?status=all", headers=restaurant.headers)).json()
    summary = (await client.get(restaurant.public)).json()
    return (entries, summary["open"])


async def test_missing_or_unknown_credentials_are_401_with_a_bearer_challenge(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    joined = await client.post(f"{restaurant.public}/queue", json=join_body(1))
    entry_id = joined.json()["id"]
    before = await snapshot(client, restaurant)

    requests = [(method, f"{restaurant.admin}{path}") for method, path in ENDPOINTS]
    requests += [("POST", f"{restaurant.admin}/queue/{entry_id}/{action}") for action in ENTRY_ACTIONS]
    for credentials, headers in BAD_CREDENTIALS.items():
        for method, url in requests:
            response = await client.request(method, url, headers=headers)
            assert response.status_code == 401, (credentials, url)
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["type"] == "urn:waitline:problem:not-authenticated"

    assert await snapshot(client, restaurant) == before


# Decided in the web layer, whatever the database: one backend is enough.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_scheme_is_case_insensitive(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> None:
    response = await client.get(
        f"{restaurant.admin}/queue", headers={"Authorization": f"bearer {restaurant.token}"}
    )

    assert response.status_code == 200


async def test_a_token_of_another_restaurant_is_403_and_changes_nothing(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    other = await make_restaurant(database, slug="marios")
    await client.post(f"{restaurant.public}/queue", json=join_body(1))
    called = await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
    called_id = called.json()["id"]
    await client.post(f"{restaurant.public}/queue", json=join_body(2))
    before = await snapshot(client, restaurant)

    requests = [(method, f"{restaurant.admin}{path}") for method, path in ENDPOINTS]
    requests += [("POST", f"{restaurant.admin}/queue/{called_id}/{action}") for action in ENTRY_ACTIONS]
    for method, url in requests:
        response = await client.request(method, url, headers=other.headers)
        assert response.status_code == 403, url
        assert response.json()["type"] == "urn:waitline:problem:not-permitted"
        assert "mobileNumber" not in response.text

    assert await snapshot(client, restaurant) == before
    # ...while the other restaurant's token still works on its own path.
    assert (await client.get(f"{other.admin}/queue", headers=other.headers)).status_code == 200


async def test_each_token_is_stored_only_as_its_sha256(
    database: Database, restaurant: StaffRestaurant
) -> None:
    other = await make_restaurant(database, slug="marios")

    async with database.snapshot() as connection:
        rows = (
            (await connection.execute(text("SELECT restaurant_id, token_hash FROM api_token")))
            .mappings()
            .all()
        )
        dumped = " ".join(
            str(value)
            for row in (await connection.execute(text("SELECT * FROM api_token"))).all()
            for value in row
        )

    stored = {str(row["restaurant_id"]): row["token_hash"] for row in rows}
    assert stored == {
        str(staff.restaurant.id): hashlib.sha256(staff.token.encode()).hexdigest()
        for staff in (restaurant, other)
    }
    for staff in (restaurant, other):
        assert staff.token not in dumped
        assert staff.token.removeprefix("wl_") not in dumped
