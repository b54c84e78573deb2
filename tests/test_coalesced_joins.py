"""Coalesced joins (PostgreSQL): concurrent joins of one restaurant within a process share one statement
(services/join_batching.py, ``waitline_join_batch``). Under a storm with mixed failures through real server
processes, every guest still gets exactly the answer a join alone would give: tokens 1..N without a gap,
each replay its original entry, each refusal its own 4xx while the others succeed, and a chain that verifies.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import CLIENT_IP, Server, StaffRestaurant, join_body
from tests.counter_lock import CounterLock
from tests.load import fire, last_token, record_figures, stored_entries, storm_client, warm_up
from tests.test_event_log_tampering import verify
from waitline.config import Settings
from waitline.domain import JoinRequest, ServiceUnavailable
from waitline.services import Services
from waitline.services.join_batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_IN_FLIGHT
from waitline.store import join_batches
from waitline.store.engine import Database, open_database
from waitline.store.join_batches import BatchedJoin, JoinFailedInBatch
from waitline.store.joins import JoinOutcome

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]

GUESTS = 120
LARGEST_PARTY = 6
REPLAY_EVERY = 8  # guest 0, 8, 16...: an exact copy (same idempotency key) races the original
DUPLICATE_MOBILE_FROM = 3  # guest 3, 11, 19...: another party with the same mobile races it
KEY_REUSED_FROM = 5  # guest 5, 13, 21...: the same key with another body races it
OVERSIZE = 10
# Coalescing is off by default (config.py says why); these tests turn it on.
COALESCING = {"WAITLINE_JOIN_COALESCING": "on"}


def guest(index: int, **overrides: object) -> dict[str, object]:
    body = join_body(index, partySize=1 + index % LARGEST_PARTY, idempotencyKey=f"guest-{index}")
    return {**body, **overrides}


def storm_bodies() -> dict[str, list[dict[str, object]]]:
    return {
        "guests": [guest(i) for i in range(GUESTS)],
        "replays": [guest(i) for i in range(0, GUESTS, REPLAY_EVERY)],
        "same_mobile": [
            guest(i, name=f"Other {i}", idempotencyKey=f"other-{i}")
            for i in range(DUPLICATE_MOBILE_FROM, GUESTS, REPLAY_EVERY)
        ],
        "key_reused": [guest(i, name=f"Impostor {i}") for i in range(KEY_REUSED_FROM, GUESTS, REPLAY_EVERY)],
        "oversize": [
            join_body(GUESTS + i, partySize=LARGEST_PARTY + 2, idempotencyKey=f"big-{i}")
            for i in range(OVERSIZE)
        ],
    }


def problem_type(response: httpx.Response) -> str:
    return str(response.json()["type"]).removeprefix("urn:waitline:problem:")


async def batches_seen(database: Database, restaurant_id: uuid.UUID) -> Counter[int]:
    """How many entries each transaction made: the entries of one batch share its start time, now()."""
    async with database.snapshot() as connection:
        rows = await connection.execute(
            text("SELECT count(*) FROM queue_entry WHERE restaurant_id = :id GROUP BY created_at"),
            {"id": str(restaurant_id)},
        )
        return Counter(int(row[0]) for row in rows)


async def test_a_storm_with_mixed_failures_on_one_restaurant_answers_each_join_as_alone(
    server_factory: Callable[..., Server], database: Database, restaurant: StaffRestaurant, database_url: str
) -> None:
    async with database.transaction() as connection:
        await connection.execute(
            text("UPDATE restaurant SET max_party_size = :largest"), {"largest": LARGEST_PARTY}
        )
    servers = [server_factory(database_url, **COALESCING), server_factory(database_url, **COALESCING)]
    bodies = storm_bodies()
    groups = [(group, body) for group, listed in bodies.items() for body in listed]
    url = f"{restaurant.public}/queue"
    half = len(groups) // 2 + 1
    async with storm_client(servers[0].base_url, half) as a, storm_client(servers[1].base_url, half) as b:
        clients = [a, b]
        await asyncio.gather(warm_up(a, half), warm_up(b, half))
        # The counter row is held while the storm arrives, so that every in-flight place of both processes
        # waits at the lock and the joins behind them queue: batches form however fast the machine is (left
        # alone, a quiet machine made 1 batch of 2 in 120 joins, a busy one many).
        async with CounterLock(database_url, restaurant.restaurant.id) as lock, asyncio.TaskGroup() as group:
            storming = group.create_task(
                fire(
                    [
                        (clients[i % 2], clients[i % 2].build_request("POST", url, json=body))
                        for i, (_, body) in enumerate(groups)
                    ]
                )
            )
            await lock.until_waiting(len(servers) * DEFAULT_MAX_IN_FLIGHT)
            # Every place in flight is taken: what arrives now queues. A moment for the rest of the storm to
            # arrive (no assertion hangs on it: fewer arrivals only make smaller batches).
            await asyncio.sleep(1.0)
            await lock.release()
        storm = storming.result()
    answers: dict[str, list[tuple[dict[str, object], httpx.Response]]] = {group: [] for group in bodies}
    for (group, body), response in zip(groups, storm.responses, strict=True):
        answers[group].append((body, response))
    assert all(response.status_code < 500 for response in storm.responses), storm.statuses()
    of_guest = {str(body["idempotencyKey"]): response for body, response in answers["guests"]}

    # An exact copy and its original: one made the entry, the other was answered with that same entry.
    for body, copy in answers["replays"]:
        original = of_guest[str(body["idempotencyKey"])]
        assert sorted([original.status_code, copy.status_code]) == [200, 201]
        assert copy.json()["id"] == original.json()["id"]
        assert copy.json()["tokenNumber"] == original.json()["tokenNumber"]
    # The same mobile number twice: one party is in the queue, the other was told so (409).
    for index, (_, other) in zip(
        range(DUPLICATE_MOBILE_FROM, GUESTS, REPLAY_EVERY), answers["same_mobile"], strict=True
    ):
        pair = sorted([of_guest[f"guest-{index}"], other], key=lambda response: response.status_code)
        assert [response.status_code for response in pair] == [201, 409]
        assert problem_type(pair[1]) == "already-in-queue"
    # The same key with another body: one is the entry, the other a 422 saying the key was used.
    for index, (_, impostor) in zip(
        range(KEY_REUSED_FROM, GUESTS, REPLAY_EVERY), answers["key_reused"], strict=True
    ):
        pair = sorted([of_guest[f"guest-{index}"], impostor], key=lambda response: response.status_code)
        assert [response.status_code for response in pair] == [201, 422]
        assert problem_type(pair[1]) == "idempotency-key-reused"
    assert [problem_type(response) for _, response in answers["oversize"]] == ["party-too-large"] * OVERSIZE

    # Every entry went to the guest whose request made it; tokens 1..N, each once, positions as the tokens.
    created = [
        (body, response)
        for body, response in zip(groups, storm.responses, strict=True)
        if response.status_code == 201
    ]
    assert all(response.json()["name"] == body[1]["name"] for body, response in created)
    tokens = sorted(response.json()["tokenNumber"] for _, response in created)
    assert tokens == list(range(1, GUESTS + 1))
    assert all(response.json()["position"] == response.json()["tokenNumber"] for _, response in created)
    stored = await stored_entries(database, restaurant.restaurant.id)
    assert {(entry.id, entry.token_number) for entry in stored} == {
        (uuid.UUID(response.json()["id"]), response.json()["tokenNumber"]) for _, response in created
    }
    assert await last_token(database, restaurant.restaurant.id) == GUESTS

    # One `joined` event per entry, seqs 1..N, and a chain that verifies.
    async with database.snapshot() as connection:
        seqs = (await connection.execute(text("SELECT seq FROM queue_event ORDER BY seq"))).scalars().all()
    assert list(seqs) == list(range(1, GUESTS + 1))
    code, output, errors = await verify(database_url, restaurant.restaurant.slug)  # `waitline events verify`
    assert code == 0, output + errors

    # The storm did go through batches: some transactions made more than one entry.
    batches = await batches_seen(database, restaurant.restaurant.id)
    assert max(batches) > 1, batches
    record_figures(
        "coalesced-join-storm",
        database_url=database_url,
        requests=len(groups),
        wall_seconds=storm.wall_seconds,
        statuses=storm.statuses(),
        entries_per_transaction=dict(sorted(batches.items())),
    )


def batched(services: Services, index: int, **overrides: object) -> BatchedJoin:
    fields: dict[str, object] = {
        "slug": "luigis",
        "name": f"Guest {index}",
        "mobile": f"+1415555{index:04d}",
        "party_size": 2,
        "idempotency_key": f"key-{index}",
    } | overrides
    return BatchedJoin(JoinRequest(**fields), (), services.clock())  # type: ignore[arg-type]


async def test_a_join_that_fails_inside_its_batch_fails_alone(
    database: Database, services: Services, restaurant: StaffRestaurant
) -> None:
    # A party size the API never lets through: the database's check constraint refuses it, inside the batch.
    joins = [batched(services, 0), batched(services, 1, party_size=0), batched(services, 2)]
    async with database.single_statement() as connection:
        outcomes = await join_batches.join_batch(connection=connection, slug="luigis", joins=joins)

    assert isinstance(outcomes[1], JoinFailedInBatch)
    made = [outcome for outcome in outcomes if isinstance(outcome, JoinOutcome)]
    assert [outcome.entry.token_number for outcome in made] == [1, 2]
    assert [outcome.event.seq for outcome in made if outcome.event] == [1, 2]
    assert [entry.token_number for entry in await stored_entries(database, restaurant.restaurant.id)] == [
        1,
        2,
    ]
    verdict = await services.events.verify(slug="luigis")
    assert verdict.intact and verdict.checked == 2


async def test_replays_within_one_batch_and_across_batches_return_the_original_entry(
    database: Database, services: Services, restaurant: StaffRestaurant
) -> None:
    first = [batched(services, 0), batched(services, 0), batched(services, 1)]
    async with database.single_statement() as connection:
        one = await join_batches.join_batch(connection=connection, slug="luigis", joins=first)
    async with database.single_statement() as connection:
        two = await join_batches.join_batch(
            connection=connection, slug="luigis", joins=[batched(services, 1), batched(services, 2)]
        )
    outcomes = [*one, *two]
    assert all(isinstance(outcome, JoinOutcome) for outcome in outcomes), outcomes
    made = [outcome for outcome in outcomes if isinstance(outcome, JoinOutcome)]
    assert [outcome.created for outcome in made] == [True, False, True, False, True]
    assert made[1].entry == made[0].entry and made[3].entry == made[2].entry
    assert [outcome.entry.token_number for outcome in made] == [1, 1, 2, 2, 3]


async def test_when_the_database_is_down_every_join_of_a_batch_gets_503(restaurant: StaffRestaurant) -> None:
    closed = "postgresql://postgres@127.0.0.1:1/waitline"  # nothing listens on port 1
    database = open_database(Settings(database_url=closed, transaction_timeout_seconds=2))
    services = Services(database=database, join_batch_max=DEFAULT_MAX_BATCH)
    try:
        results = await asyncio.gather(
            *(
                services.queue.join(
                    slug="luigis",
                    name=f"Guest {i}",
                    mobile=f"+1415555{i:04d}",
                    party_size=2,
                    idempotency_key=None,
                    client_ip=CLIENT_IP,
                )
                for i in range(8)
            ),
            return_exceptions=True,
        )
    finally:
        await database.dispose()
    assert all(isinstance(result, ServiceUnavailable) for result in results), results
