"""The event log under a storm across two server processes, and with one of them SIGKILLed halfway.

Guests join (a tenth of them leave again at once), 30 staff press call-next and seat or no-show whom they
called, all at once, split across two ``waitline serve`` processes on one database. Afterwards the log must
hold exactly one event per change: seqs 1..N without a gap, an event for every change that was
acknowledged, none for a change that did not commit (each entry's row says what happened to it), and a
hash chain that verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest

from tests.conftest import Server, StaffRestaurant, join_body
from tests.load import (
    STORM_TIMEOUT_SECONDS,
    record_figures,
    stored_entries,
    storm_client,
)
from waitline.domain import Event
from waitline.services import Services
from waitline.store.engine import Database

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

JOINS = 200
CALLERS = 30
LEAVE_EVERY = 10  # every tenth guest leaves again at once
KILL_AFTER_JOINS = 60
# A busy server answers 503 (no connection free in time): the phone or tablet tries again, a little later.
BUSY_RETRIES = 20
BUSY_PAUSE_SECONDS = 0.2


@dataclass
class Record:
    """What the servers acknowledged, as (event type, entry id); and how many answers never came."""

    acknowledged: list[tuple[str, uuid.UUID]] = field(default_factory=list)
    unknown: int = 0
    # What cut the unknown ones off, and how many 503s were answered (and retried).
    errors: Counter[str] = field(default_factory=Counter)
    busy: int = 0
    joins_done: asyncio.Event = field(default_factory=asyncio.Event)
    halfway: asyncio.Event = field(default_factory=asyncio.Event)
    # Set at each acknowledged join: staff who found nobody waiting press again then, not in a busy loop.
    arrival: asyncio.Event = field(default_factory=asyncio.Event)

    def acknowledge(self, kind: str, entry_id: uuid.UUID) -> None:
        self.acknowledged.append((kind, entry_id))
        if kind == "joined":
            self.arrival.set()
            if len(self.acknowledged) >= KILL_AFTER_JOINS:
                self.halfway.set()


class Servers:
    """Sends each request to its preferred server, and to the other one when that server is gone."""

    def __init__(self, servers: list[Server], concurrency: int) -> None:
        self.clients = [storm_client(server.base_url, concurrency) for server in servers]
        self.dead: set[int] = set()

    async def send(
        self, prefer: int, method: str, url: str, record: Record, **kwargs: object
    ) -> httpx.Response | None:
        """The answer, or None when none came (the outcome is unknown).

        A refused connection means that server is gone: the request goes to the other one. Any other
        failure (the answer cut off by the kill) is an unknown outcome; only a join, which carries its
        idempotency key, is sent again, as a phone would. A 503 (busy) is asked again.
        """
        retry = "idempotencyKey" in str(kwargs.get("json"))
        for _ in range(BUSY_RETRIES):
            side = prefer if prefer not in self.dead else 1 - prefer
            try:
                response = await self.clients[side].request(method, url, **kwargs)  # type: ignore[arg-type]
            except httpx.ConnectError:
                self.dead.add(side)
                continue
            except httpx.TransportError as error:
                record.errors[type(error).__name__] += 1
                if not retry:
                    break
                continue
            if response.status_code != 503:
                return response
            # Busy (no connection came free in time): ask again a little later, as a phone or a tablet would.
            # The checks below hold whatever a 503 left behind: they read the log and the rows themselves.
            record.busy += 1
            await asyncio.sleep(BUSY_PAUSE_SECONDS)
        record.unknown += 1
        return None

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()


async def guest(index: int, servers: Servers, restaurant: StaffRestaurant, record: Record) -> None:
    body = join_body(index, idempotencyKey=f"storm-{index}")
    joined = await servers.send(index % 2, "POST", f"{restaurant.public}/queue", record, json=body)
    if joined is None or joined.status_code not in (200, 201):
        return
    entry_id = uuid.UUID(joined.json()["id"])
    record.acknowledge("joined", entry_id)
    if index % LEAVE_EVERY == 0:
        left = await servers.send(1 - index % 2, "DELETE", f"{restaurant.public}/queue/{entry_id}", record)
        if left is not None and left.status_code == 200:
            record.acknowledge("left", entry_id)


async def host(
    index: int, servers: Servers, restaurant: StaffRestaurant, headers: dict[str, str], record: Record
) -> None:
    """Presses call-next until the joins are over and nobody waits; seats (even tokens) or marks as no-show
    whom it called."""
    while True:
        called = await servers.send(
            index % 2, "POST", f"{restaurant.admin}/queue/call-next", record, headers=headers
        )
        if called is None:
            continue
        if called.status_code == 204:
            if record.joins_done.is_set():
                return
            record.arrival.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(record.arrival.wait(), timeout=0.5)
            continue
        assert called.status_code == 200, called.text
        entry = called.json()
        entry_id = uuid.UUID(entry["id"])
        record.acknowledge("called", entry_id)
        action, kind = ("seat", "seated") if entry["tokenNumber"] % 2 == 0 else ("no-show", "no_show")
        done = await servers.send(
            1 - index % 2, "POST", f"{restaurant.admin}/queue/{entry_id}/{action}", record, headers=headers
        )
        if done is not None and done.status_code == 200:
            record.acknowledge(kind, entry_id)


async def run_storm(
    servers: list[Server], restaurant: StaffRestaurant, database: Database, *, kill: Server | None = None
) -> Record:
    record = Record()
    tokens = [restaurant.token, await Services(database=database).accounts.create_api_token(slug="luigis")]
    clients = Servers(servers, concurrency=JOINS)

    async def guests() -> None:
        async with asyncio.TaskGroup() as group:
            for index in range(JOINS):
                group.create_task(guest(index, clients, restaurant, record))
        record.joins_done.set()
        record.arrival.set()

    async def killer() -> None:
        await record.halfway.wait()
        assert kill is not None
        kill.process.kill()  # SIGKILL: no shutdown, requests in flight get no answer

    try:
        async with asyncio.timeout(STORM_TIMEOUT_SECONDS), asyncio.TaskGroup() as group:
            group.create_task(guests())
            for index in range(CALLERS):
                headers = {"Authorization": f"Bearer {tokens[index % 2]}"}
                group.create_task(host(index, clients, restaurant, headers, record))
            if kill is not None:
                group.create_task(killer())
    finally:
        await clients.close()
    return record


async def all_events(services: Services, restaurant_id: uuid.UUID) -> list[Event]:
    events: list[Event] = []
    while True:
        page = await services.events.page(restaurant_id=restaurant_id, after=len(events), limit=1000)
        if not page.events:
            return events
        events += page.events


async def assert_one_event_per_change(
    database: Database, restaurant: StaffRestaurant, record: Record
) -> list[Event]:
    services = Services(database=database)
    restaurant_id = restaurant.restaurant.id
    events = await all_events(services, restaurant_id)
    changes = Counter((event.type.value, event.entry_id) for event in events)

    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    assert max(changes.values()) == 1  # no change recorded twice
    # Every call was plain first come, first served: the log's order is the order guests were called in.
    called = [event.token_number for event in events if event.type.value == "called"]
    assert called == sorted(called)
    assert set(record.acknowledged) <= set(changes), set(record.acknowledged) - set(changes)
    # Each entry's row says what happened to it; the log says the same, no more and no less.
    from_rows: set[tuple[str, uuid.UUID]] = set()
    for entry in await stored_entries(database, restaurant_id):
        from_rows.add(("joined", entry.id))
        if entry.called_at is not None:
            from_rows.add(("called", entry.id))
        if entry.status in ("seated", "no_show"):
            from_rows.add((entry.status, entry.id))
        if entry.status == "cancelled":
            from_rows.add(("left" if ("left", entry.id) in changes else "cancelled", entry.id))
    assert set(changes) == from_rows
    verdict = await services.events.verify(slug=restaurant.restaurant.slug)
    assert verdict.intact and verdict.checked == len(events), verdict
    return events


async def test_a_storm_across_two_processes_leaves_one_event_per_change_and_a_chain_that_verifies(
    server_factory: Callable[..., Server], database: Database, restaurant: StaffRestaurant, database_url: str
) -> None:
    servers = [server_factory(database_url), server_factory(database_url)]

    record = await run_storm(servers, restaurant, database)

    events = await assert_one_event_per_change(database, restaurant, record)
    assert record.unknown == 0
    assert Counter(kind for kind, _ in record.acknowledged) == Counter(event.type.value for event in events)
    assert sum(event.type.value == "joined" for event in events) == JOINS
    record_figures(
        "event-log-storm",
        database_url=database_url,
        requests=len(record.acknowledged),
        wall_seconds=0,
        events=len(events),
        by_type=dict(Counter(event.type.value for event in events)),
        busy_retried=record.busy,
    )


async def test_a_sigkill_in_the_storm_loses_no_acknowledged_event_and_records_none_that_rolled_back(
    server_factory: Callable[..., Server], database: Database, restaurant: StaffRestaurant, database_url: str
) -> None:
    servers = [server_factory(database_url), server_factory(database_url)]

    record = await run_storm(servers, restaurant, database, kill=servers[0])

    events = await assert_one_event_per_change(database, restaurant, record)
    assert servers[0].process.poll() is not None  # it was killed, mid-storm
    record_figures(
        "event-log-storm-sigkill",
        database_url=database_url,
        requests=len(record.acknowledged),
        wall_seconds=0,
        events=len(events),
        unknown_outcomes=record.unknown,
        cut_off=dict(record.errors),
        busy_retried=record.busy,
        acknowledged=len(record.acknowledged),
    )
