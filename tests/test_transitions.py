"""What may follow what: seat and no-show only from called, cancel from waiting or called, the rest is final.

Staff act through their own restaurant's path only: an entry of another restaurant is 404 there and is
never touched. Guests leave with DELETE on their entry.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import StaffRestaurant, join_body, make_restaurant
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio

STATES = ["waiting", "called", "seated", "no_show", "cancelled"]
ACTIONS = ["seat", "no-show", "cancel"]
# The table written out by hand (not read from waitline.domain), so that a change there shows up here.
ALLOWED = {
    ("called", "seat"): "seated",
    ("called", "no-show"): "no_show",
    ("waiting", "cancel"): "cancelled",
    ("called", "cancel"): "cancelled",
}


async def entry_in_state(client: httpx.AsyncClient, restaurant: StaffRestaurant, state: str) -> str:
    """A fresh entry (the only one in the queue) brought to ``state`` through the API."""
    joined = await client.post(f"{restaurant.public}/queue", json=join_body(1))
    assert joined.status_code == 201
    entry_id: str = joined.json()["id"]
    if state == "waiting":
        return entry_id
    if state == "cancelled":
        action = await client.post(f"{restaurant.admin}/queue/{entry_id}/cancel", headers=restaurant.headers)
        assert action.status_code == 200
        return entry_id
    called = await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
    assert called.json()["id"] == entry_id
    if state in {"seated", "no_show"}:
        path = "seat" if state == "seated" else "no-show"
        action = await client.post(f"{restaurant.admin}/queue/{entry_id}/{path}", headers=restaurant.headers)
        assert action.status_code == 200
    return entry_id


async def status_of(client: httpx.AsyncClient, restaurant: StaffRestaurant, entry_id: str) -> str:
    response = await client.get(f"{restaurant.public}/queue/{entry_id}")
    assert response.status_code == 200
    status: str = response.json()["status"]
    return status


async def test_staff_transitions_follow_the_table(client: httpx.AsyncClient, database: Database) -> None:
    # Each (state, action) cell on an entry at a restaurant of its own: (HTTP status, status after).
    observed: dict[tuple[str, str], tuple[int, str]] = {}
    for state in STATES:
        for action in ACTIONS:
            staff = await make_restaurant(database, slug=f"r-{state}-{action}".replace("_", "-"))
            entry_id = await entry_in_state(client, staff, state)
            assert await status_of(client, staff, entry_id) == state
            response = await client.post(f"{staff.admin}/queue/{entry_id}/{action}", headers=staff.headers)
            after = await status_of(client, staff, entry_id)
            observed[state, action] = (response.status_code, after)
            if response.status_code == 200:
                assert response.json()["id"] == entry_id
                assert response.json()["status"] == after
                assert response.json()["position"] is None
            else:
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["type"] == "urn:waitline:problem:transition-not-allowed"

    expected = {
        (state, action): (200, ALLOWED[state, action]) if (state, action) in ALLOWED else (409, state)
        for state in STATES
        for action in ACTIONS
    }
    assert observed == expected


async def test_an_unknown_entry_is_404(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> None:
    for action in ACTIONS:
        url = f"{restaurant.admin}/queue/{uuid.uuid4()}/{action}"
        response = await client.post(url, headers=restaurant.headers)

        assert response.status_code == 404, action
        assert response.json()["type"] == "urn:waitline:problem:entry-not-found"


async def test_another_restaurants_entry_is_404_and_untouched(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    other = await make_restaurant(database, slug="marios")
    theirs = await entry_in_state(client, other, "called")

    for action in ACTIONS:
        response = await client.post(
            f"{restaurant.admin}/queue/{theirs}/{action}", headers=restaurant.headers
        )

        assert response.status_code == 404, action
        assert response.json()["type"] == "urn:waitline:problem:entry-not-found"
    assert await status_of(client, other, theirs) == "called"


async def test_seating_a_waiting_party_does_not_call_it(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    entry_id = await entry_in_state(client, restaurant, "waiting")

    await client.post(f"{restaurant.admin}/queue/{entry_id}/seat", headers=restaurant.headers)

    entry = (await client.get(f"{restaurant.public}/queue/{entry_id}")).json()
    assert (entry["status"], entry["position"], entry["calledAt"]) == ("waiting", 1, None)


async def test_a_cancelled_party_leaves_the_line_and_the_rest_move_up(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    first = await client.post(f"{restaurant.public}/queue", json=join_body(1))
    second = await client.post(f"{restaurant.public}/queue", json=join_body(2))

    await client.post(f"{restaurant.admin}/queue/{first.json()['id']}/cancel", headers=restaurant.headers)

    assert (await client.get(f"{restaurant.public}/queue/{second.json()['id']}")).json()["position"] == 1
    called = await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
    assert called.json()["id"] == second.json()["id"]


# --- the guest leaves -------------------------------------------------------------------------------------


async def test_a_guest_leaves_with_delete_while_waiting_or_called(
    client: httpx.AsyncClient, database: Database
) -> None:
    for state in ("waiting", "called"):
        staff = await make_restaurant(database, slug=f"leave-{state}")
        entry_id = await entry_in_state(client, staff, state)

        left = await client.delete(f"{staff.public}/queue/{entry_id}")
        again = await client.delete(f"{staff.public}/queue/{entry_id}")

        assert left.status_code == 200, state
        assert left.json()["id"] == entry_id
        assert left.json()["status"] == "cancelled"
        assert "mobileNumber" not in left.json()
        assert again.status_code == 409, state
        assert again.json()["type"] == "urn:waitline:problem:transition-not-allowed"
        assert await status_of(client, staff, entry_id) == "cancelled"


async def test_a_guest_cannot_leave_a_finished_entry(client: httpx.AsyncClient, database: Database) -> None:
    for state in ("seated", "no_show"):
        staff = await make_restaurant(database, slug=f"finished-{state.replace('_', '-')}")
        entry_id = await entry_in_state(client, staff, state)

        response = await client.delete(f"{staff.public}/queue/{entry_id}")

        assert response.status_code == 409, state
        assert await status_of(client, staff, entry_id) == state


async def test_leaving_through_the_wrong_restaurant_is_404_and_untouched(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    other = await make_restaurant(database, slug="marios")
    entry_id = await entry_in_state(client, restaurant, "waiting")

    through_other = await client.delete(f"{other.public}/queue/{entry_id}")
    through_unknown = await client.delete(f"/api/public/nobody-here/queue/{entry_id}")
    unknown_entry = await client.delete(f"{restaurant.public}/queue/{uuid.uuid4()}")

    for response in (through_other, through_unknown, unknown_entry):
        assert response.status_code == 404
        assert response.json()["type"] == "urn:waitline:problem:entry-not-found"
    assert await status_of(client, restaurant, entry_id) == "waiting"
