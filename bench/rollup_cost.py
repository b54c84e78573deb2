"""What the analytics rollups' trigger (migration 0011) costs each change of a queue, on PostgreSQL.

    .venv/bin/python -m bench.rollup_cost [--rounds 6] [--parties 100]

Makes a database ``waitline_bench_rollup_cost``, migrates it, and times parties going through the queue's
own use cases (join, call, seat: three transactions, three events each, the trigger writing the rollups in
each), in alternating rounds with the trigger on and off (ALTER TABLE ... DISABLE TRIGGER), so that the
machine's load falls on both alike. Prints the median milliseconds per party of each and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from tests import postgres
from tests.conftest import migrate_database

from waitline.config import Settings
from waitline.domain import Actor, Transition
from waitline.domain.event import ActorKind
from waitline.services import Services
from waitline.store.engine import open_database

DATABASE = "waitline_bench_rollup_cost"
STAFF = Actor(ActorKind.SYSTEM)


async def _round(services: Services, restaurant_id: uuid.UUID, parties: int, offset: int) -> float:
    started = time.perf_counter()
    for number in range(parties):
        joined = await services.queue.join(
            slug="bench",
            name=f"Guest {number}",
            mobile=f"+1415555{offset + number:04d}",
            party_size=2,
            idempotency_key=None,
            client_ip="192.0.2.1",
        )
        called = await services.queue.call_next(restaurant_id=restaurant_id, max_party_size=None, actor=STAFF)
        assert called is not None and called.id == joined.entry.id
        await services.queue.transition(
            restaurant_id=restaurant_id,
            entry_id=called.id,
            transition=Transition.SEAT,
            actor=STAFF,
        )
    return (time.perf_counter() - started) * 1000 / parties


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--parties", type=int, default=100)
    args = parser.parse_args()
    admin = postgres.DEFAULT_URL
    await postgres.execute(
        admin, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", f"CREATE DATABASE {DATABASE}"
    )
    url = postgres.with_database(admin, DATABASE)
    await migrate_database(url)
    database = open_database(Settings(database_url=url))
    services = Services(database=database)
    restaurant = await services.restaurants.create(slug="bench", name="bench", default_region="US")
    timings: dict[str, list[float]] = {"on": [], "off": []}
    offset = 0
    for round_number in range(args.rounds * 2):
        state = "on" if round_number % 2 == 0 else "off"
        action = "ENABLE" if state == "on" else "DISABLE"
        await postgres.execute(url, f"ALTER TABLE queue_event {action} TRIGGER queue_event_roll_up")
        timings[state].append(await _round(services, restaurant.id, args.parties, offset))
        offset += args.parties
    await database.dispose()
    await postgres.execute(admin, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    on, off = statistics.median(timings["on"]), statistics.median(timings["off"])
    print(f"per party (join, call, seat): trigger on {on:.2f} ms, off {off:.2f} ms, ratio {on / off:.3f}")
    print(f"rounds on: {[round(t, 2) for t in timings['on']]}; off: {[round(t, 2) for t in timings['off']]}")


if __name__ == "__main__":
    asyncio.run(main())
