"""The event log: one event per change, in order, gapless per restaurant, hash-chained, append-only.

Through the API on both databases. The storm across two processes and the SIGKILL are in
test_event_log_storm.py; tampering with rows by hand, in test_event_log_tampering.py.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.conftest import StaffRestaurant, join_body, make_restaurant
from waitline.services import Services
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio


async def events_of(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, after: int = 0
) -> list[dict[str, Any]]:
    response = await client.get(
        f"{restaurant.admin}/events", params={"after": after}, headers=restaurant.headers
    )
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


async def test_every_change_appends_one_event_with_its_entry_token_and_actor(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, services: Services
) -> None:
    staff = restaurant.headers
    ids = []
    for index in range(4):
        joined = await client.post(f"{restaurant.public}/queue", json=join_body(index))
        ids.append(joined.json()["id"])
    for _ in range(3):
        assert (await client.post(f"{restaurant.admin}/queue/call-next", headers=staff)).status_code == 200
    assert (await client.post(f"{restaurant.admin}/queue/{ids[0]}/seat", headers=staff)).status_code == 200
    assert (await client.post(f"{restaurant.admin}/queue/{ids[1]}/no-show", headers=staff)).status_code == 200
    assert (await client.post(f"{restaurant.admin}/queue/{ids[2]}/cancel", headers=staff)).status_code == 200
    assert (await client.delete(f"{restaurant.public}/queue/{ids[3]}")).status_code == 200
    assert (await client.post(f"{restaurant.admin}/queue/pause", headers=staff)).status_code == 200
    assert (await client.post(f"{restaurant.admin}/queue/resume", headers=staff)).status_code == 200

    events = await events_of(client, restaurant)

    assert [event["seq"] for event in events] == list(range(1, 14))
    assert [(event["type"], event["tokenNumber"]) for event in events] == [
        ("joined", 1),
        ("joined", 2),
        ("joined", 3),
        ("joined", 4),
        ("called", 1),
        ("called", 2),
        ("called", 3),
        ("seated", 1),
        ("no_show", 2),
        ("cancelled", 3),
        ("left", 4),
        ("paused", None),
        ("resumed", None),
    ]
    assert [event["entryId"] for event in events[:4]] == ids
    assert [event["actor"]["kind"] for event in events] == ["guest"] * 4 + ["api_token"] * 6 + [
        "guest",
        "api_token",
        "api_token",
    ]
    assert events[10]["actor"] == {"kind": "guest", "id": None}  # the guest left by themselves
    token_ids = {event["actor"]["id"] for event in events if event["actor"]["kind"] == "api_token"}
    assert len(token_ids) == 1 and uuid.UUID(token_ids.pop())  # the token's id, never its secret
    assert restaurant.token not in str(events)
    assert all(event["reason"] is None for event in events)
    assert events[0]["prevHash"] == "0" * 64
    assert all(later["prevHash"] == earlier["hash"] for earlier, later in itertools.pairwise(events))
    verdict = await services.events.verify(slug="luigis")
    assert verdict.intact and verdict.checked == 13


async def test_a_call_that_passes_over_a_party_records_why(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    for index, size in enumerate((6, 2, 5)):
        await client.post(f"{restaurant.public}/queue", json=join_body(index, partySize=size))

    called = await client.post(
        f"{restaurant.admin}/queue/call-next", json={"maxPartySize": 4}, headers=restaurant.headers
    )
    in_order = await client.post(
        f"{restaurant.admin}/queue/call-next", json={"maxPartySize": 6}, headers=restaurant.headers
    )

    assert called.json()["tokenNumber"] == 2 and in_order.json()["tokenNumber"] == 1
    passing, plain = (await events_of(client, restaurant))[3:]
    assert passing["reason"] == "called #2 before #1: a party of 6 does not fit a table of 4"
    assert passing["details"] == {"table_size": 4}
    assert plain["reason"] is None  # #1 was first in line
    assert plain["details"] == {"table_size": 6}


async def test_a_change_that_is_refused_records_nothing(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    staff = restaurant.headers
    joined = (await client.post(f"{restaurant.public}/queue", json=join_body(1))).json()
    before = await events_of(client, restaurant)

    refused = [
        await client.post(f"{restaurant.admin}/queue/{joined['id']}/seat", headers=staff),  # not called yet
        await client.post(f"{restaurant.admin}/queue/{uuid.uuid4()}/cancel", headers=staff),
        await client.post(f"{restaurant.public}/queue", json=join_body(1)),  # already in the queue
        await client.post(f"{restaurant.admin}/queue/resume", headers=staff),  # already open
    ]
    await client.post(f"{restaurant.admin}/queue/pause", headers=staff)
    refused.append(await client.post(f"{restaurant.public}/queue", json=join_body(2)))  # paused
    refused.append(await client.post(f"{restaurant.admin}/queue/pause", headers=staff))  # already paused

    assert [response.status_code for response in refused] == [409, 404, 409, 200, 409, 200]
    assert [event["type"] for event in await events_of(client, restaurant)] == [
        event["type"] for event in before
    ] + ["paused"]


async def test_the_log_is_paged_in_seq_order_and_resumes_from_the_last_seq(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    for index in range(7):
        await client.post(f"{restaurant.public}/queue", json=join_body(index))
    seen: list[int] = []
    after = 0
    while True:
        page = await client.get(
            f"{restaurant.admin}/events", params={"after": after, "limit": 3}, headers=restaurant.headers
        )
        body = page.json()
        seen += [event["seq"] for event in body["events"]]
        if not body["events"]:
            assert body["lastSeq"] == after  # nothing newer yet: resume from the same place
            break
        after = body["lastSeq"]

    assert seen == list(range(1, 8))


async def test_each_restaurant_has_its_own_log_from_seq_one(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database
) -> None:
    other = await make_restaurant(database, slug="marios")
    await client.post(f"{restaurant.public}/queue", json=join_body(1))
    await client.post(f"{other.public}/queue", json=join_body(2))
    await client.post(f"{restaurant.public}/queue", json=join_body(3))

    assert [event["seq"] for event in await events_of(client, restaurant)] == [1, 2]
    assert [event["seq"] for event in await events_of(client, other)] == [1]
    forbidden = await client.get(f"{restaurant.admin}/events", headers=other.headers)
    unauthenticated = await client.get(f"{restaurant.admin}/events")
    assert (forbidden.status_code, unauthenticated.status_code) == (403, 401)


async def test_the_database_refuses_to_update_or_delete_an_event(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database
) -> None:
    await client.post(f"{restaurant.public}/queue", json=join_body(1))
    attempts = [
        "UPDATE queue_event SET reason = 'rewritten' WHERE seq = 1",
        "DELETE FROM queue_event WHERE seq = 1",
    ]
    if database.engine.dialect.name == "postgresql":
        attempts.append("TRUNCATE queue_event")
    for statement in attempts:
        with pytest.raises(DBAPIError, match="append-only"):
            async with database.transaction() as connection:
                await connection.execute(text(statement))

    assert len(await events_of(client, restaurant)) == 1
