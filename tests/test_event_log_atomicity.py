"""A change and its event commit together or not at all: when the database refuses to record the event, the
change itself is undone. A trigger the test installs makes the insert of one type of event fail; the action
that would record it must then leave the queue exactly as it was."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import StaffRestaurant, join_body
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio


async def refuse_events_of_type(database: Database, event_type: str) -> None:
    """From now on, recording an event of ``event_type`` fails (as a disk or a constraint might)."""
    async with database.transaction() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text(
                    "CREATE FUNCTION test_refuse_event() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
                )
            )
            await connection.execute(
                text(
                    "CREATE TRIGGER test_refuse_event BEFORE INSERT ON queue_event FOR EACH ROW "
                    f"WHEN (NEW.type = '{event_type}') EXECUTE FUNCTION test_refuse_event()"
                )
            )
        else:
            await connection.execute(
                text(
                    "CREATE TRIGGER test_refuse_event BEFORE INSERT ON queue_event "
                    f"WHEN NEW.type = '{event_type}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
            )


async def snapshot(database: Database) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every entry's status and times, and every event: what a refused change must leave alone."""
    async with database.snapshot() as connection:
        entries = await connection.execute(
            text("SELECT token_number, status, called_at, finished_at FROM queue_entry ORDER BY token_number")
        )
        log = await connection.execute(text("SELECT seq, type, token_number FROM queue_event ORDER BY seq"))
        counter = await connection.execute(text("SELECT last_token, last_seq, last_hash FROM token_sequence"))
        restaurant = await connection.execute(text("SELECT queue_open FROM restaurant"))
        return [tuple(row) for row in entries] + [tuple(row) for row in counter] + [
            tuple(row) for row in restaurant
        ], [tuple(row) for row in log]


Action = Callable[[httpx.AsyncClient, StaffRestaurant, dict[str, str]], Awaitable[httpx.Response]]


async def join(client: httpx.AsyncClient, restaurant: StaffRestaurant, ids: dict[str, str]) -> httpx.Response:
    return await client.post(f"{restaurant.public}/queue", json=join_body(9))


async def call(client: httpx.AsyncClient, restaurant: StaffRestaurant, ids: dict[str, str]) -> httpx.Response:
    return await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)


async def seat(client: httpx.AsyncClient, restaurant: StaffRestaurant, ids: dict[str, str]) -> httpx.Response:
    return await client.post(f"{restaurant.admin}/queue/{ids['called']}/seat", headers=restaurant.headers)


async def no_show(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, ids: dict[str, str]
) -> httpx.Response:
    return await client.post(f"{restaurant.admin}/queue/{ids['called']}/no-show", headers=restaurant.headers)


async def cancel(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, ids: dict[str, str]
) -> httpx.Response:
    return await client.post(f"{restaurant.admin}/queue/{ids['waiting']}/cancel", headers=restaurant.headers)


async def leave(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, ids: dict[str, str]
) -> httpx.Response:
    return await client.delete(f"{restaurant.public}/queue/{ids['waiting']}")


async def pause(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, ids: dict[str, str]
) -> httpx.Response:
    return await client.post(f"{restaurant.admin}/queue/pause", headers=restaurant.headers)


ACTIONS: dict[str, Action] = {
    "joined": join,
    "called": call,
    "seated": seat,
    "no_show": no_show,
    "cancelled": cancel,
    "left": leave,
    "paused": pause,
}


@pytest.mark.parametrize("event_type", ACTIONS)
async def test_a_change_whose_event_cannot_be_recorded_does_not_happen(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database, event_type: str
) -> None:
    ids = {}
    for index in range(3):
        ids[f"guest-{index}"] = (
            await client.post(f"{restaurant.public}/queue", json=join_body(index))
        ).json()["id"]
    called = await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
    ids |= {"called": called.json()["id"], "waiting": ids["guest-2"]}
    await refuse_events_of_type(database, event_type)
    before = await snapshot(database)

    refused = await ACTIONS[event_type](client, restaurant, ids)

    assert refused.status_code >= 500, refused.text
    assert await snapshot(database) == before  # no entry, status, time, token, seq or pause changed
