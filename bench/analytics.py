"""How fast the analytics answer on a location with a year of history, on PostgreSQL, and on what plans.

    .venv/bin/python -m bench.analytics [--parties-per-day 274] [--others 3] [--keep] [--reuse]

``--reuse`` reads a database a ``--keep`` run left, migrating it first (timing the migration: a newer
revision's backfill of a year) instead of seeding a new one.

Makes a database ``waitline_bench_analytics``, migrates it, and writes a year of generated history
(bench/history.py) for one location (274 parties a day: about 100,000 entries and 300,000 events) and for
``--others`` smaller ones beside it (a tenth each), then VACUUM ANALYZE. For each analytics read, over the
whole year, its last quarter and its last month, the exact reads (the log and the entries) and the rollups'
(migration 0011; bench/history.py adds the history up in bulk) side by side, it prints
the median of ``RUNS`` timings through the store (what the service runs, parameters bound the same way)
and the EXPLAIN (ANALYZE, BUFFERS) plan with the indexes it used. Times are wall-clock in this process, round
trip included.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection
from tests import postgres
from tests.conftest import migrate_database

from bench import history
from waitline.config import Settings
from waitline.services import Services
from waitline.services.estimates import SAMPLE_LIMIT
from waitline.store import analytics, rollups
from waitline.store.engine import open_database

DATABASE = "waitline_bench_analytics"
RUNS = 7
FIRST = date(2025, 11, 1)
DAYS = 365
ZONE = ZoneInfo("UTC")


def _explained(statement: Any, connection: AsyncConnection) -> TextClause:
    clause: TextClause = statement.on(connection)
    explained = text("EXPLAIN (ANALYZE, BUFFERS) " + clause.text)
    return explained.bindparams(*clause._bindparams.values())


async def _timed(read: Callable[[], Awaitable[object]]) -> float:
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        await read()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parties-per-day", type=float, default=274)
    parser.add_argument("--others", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the database for another look")
    parser.add_argument("--reuse", action="store_true", help="migrate and read a kept database")
    parser.add_argument("--database", default=DATABASE, help="its name (two runs at once need two)")
    args = parser.parse_args()
    admin = postgres.DEFAULT_URL
    url = postgres.with_database(admin, args.database)
    if args.reuse:
        started = time.perf_counter()
        await migrate_database(url)
        print(f"migrated the kept database in {time.perf_counter() - started:.1f} s")
        await postgres.execute(url, "VACUUM ANALYZE")
        database = open_database(Settings(database_url=url, transaction_timeout_seconds=600))
        async with database.snapshot() as connection:
            found = await connection.execute(text("SELECT id FROM restaurant ORDER BY slug"))
            locations = [row[0] for row in found]
    else:
        database = open_database(Settings(database_url=url, transaction_timeout_seconds=600))
        locations = await _seed(database, admin, url, args)
    await _read(database, locations)
    await database.dispose()
    if not args.keep:
        await postgres.execute(admin, f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")


async def _seed(database: Any, admin: str, url: str, args: argparse.Namespace) -> list[Any]:
    await database.dispose()
    await postgres.execute(
        admin, f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)", f"CREATE DATABASE {args.database}"
    )
    await migrate_database(url)
    services = Services(database=database)
    started = time.perf_counter()
    locations = []
    for index in range(args.others + 1):
        slug = f"location{index}"
        restaurant = await services.restaurants.create(slug=slug, name=slug, default_region="GB")
        per_day = args.parties_per_day if index == 0 else args.parties_per_day / 10
        parties = history.simulate(
            first_day=FIRST,
            days=DAYS,
            parties_per_day=per_day,
            seed=index,
            quote=lambda party: (party.position * 2, party.position * 4 + 5),
        )
        async with database.transaction() as connection:
            written = await history.write(connection, restaurant.id, parties)
        locations.append(restaurant.id)
        print(f"{slug}: {len(parties)} entries, {len(written)} events")
    print(f"seeded in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    await migrate_database(url)
    print(
        f"migrated to the newest revision (the rollups' backfill) in {time.perf_counter() - started:.1f} s\n"
    )
    await postgres.execute(url, "VACUUM ANALYZE")
    return locations


async def _read(database: Any, locations: list[Any]) -> None:
    main_id = locations[0]
    year = (
        datetime.combine(FIRST, datetime.min.time(), tzinfo=UTC),
        datetime.combine(FIRST + timedelta(days=DAYS), datetime.min.time(), tzinfo=UTC),
    )
    quarter = (year[1] - timedelta(days=91), year[1])
    month = (year[1] - timedelta(days=30), year[1])
    async with database.snapshot() as connection:
        for label, (start, end) in (("year", year), ("quarter", quarter), ("month", month)):
            reads: dict[str, tuple[Callable[[], Awaitable[object]], Any, dict[str, Any]]] = {}
            ranged = {"restaurant_ids": [str(main_id)], "start": start, "end": end}
            reads["counts"] = (
                lambda s=start, e=end: analytics.counts(
                    connection=connection, restaurant_ids=[main_id], start=s, end=e
                ),
                analytics._COUNTS,
                ranged,
            )
            reads["waits"] = (
                lambda s=start, e=end: analytics.waits(
                    connection=connection, restaurant_ids=[main_id], start=s, end=e, zone=ZONE
                ),
                analytics._WAITS_POSTGRESQL,
                {**ranged, "zone": "UTC"},
            )
            first, last = start.date(), (end - timedelta(days=1)).date()  # the same days (UTC)
            reads["counts, rollups"] = (
                lambda f=first, la=last: rollups.counts(
                    connection=connection, restaurant_ids=[main_id], first=f, last=la
                ),
                rollups._COUNTS,
                rollups.counts_params(connection, [main_id], first, last),
            )
            reads["waits, rollups"] = (
                lambda f=first, la=last: rollups.waits(
                    connection=connection, restaurant_ids=[main_id], first=f, last=la
                ),
                rollups._WAITS,
                rollups.waits_params(connection, [main_id], first, last),
            )
            reads["counts, all locations, rollups"] = (
                lambda f=first, la=last: rollups.counts(
                    connection=connection, restaurant_ids=locations, first=f, last=la
                ),
                rollups._COUNTS,
                rollups.counts_params(connection, locations, first, last),
            )
            reads["waits, all locations, rollups"] = (
                lambda f=first, la=last: rollups.waits(
                    connection=connection, restaurant_ids=locations, first=f, last=la
                ),
                rollups._WAITS,
                rollups.waits_params(connection, locations, first, last),
            )
            every = {**ranged, "restaurant_ids": sorted(str(i) for i in locations)}
            reads["counts, all locations"] = (
                lambda s=start, e=end: analytics.counts(
                    connection=connection, restaurant_ids=locations, start=s, end=e
                ),
                analytics._COUNTS,
                every,
            )
            reads["waits, all locations"] = (
                lambda s=start, e=end: analytics.waits(
                    connection=connection, restaurant_ids=locations, start=s, end=e, zone=ZONE
                ),
                analytics._WAITS_POSTGRESQL,
                {**every, "zone": "UTC"},
            )
            reads["calibration samples (8 weeks, latest 10,000)"] = (
                lambda e=end: analytics.samples(
                    connection=connection,
                    restaurant_id=main_id,
                    start=e - timedelta(weeks=8),
                    end=e,
                    zone=ZONE,
                    limit=SAMPLE_LIMIT,
                ),
                analytics._SAMPLES_POSTGRESQL,
                {**ranged, "start": end - timedelta(weeks=8), "limit": SAMPLE_LIMIT, "zone": "UTC"},
            )
            single = {"restaurant_id": str(main_id), "start": start, "end": end, "limit": 1000}
            reads["entries CSV page"] = (
                lambda s=start, e=end: analytics.entry_page(
                    connection=connection, restaurant_id=main_id, start=s, end=e, after=0, limit=1000
                ),
                analytics._ENTRY_PAGE,
                {**single, "after": 0},
            )
            reads["events CSV first page"] = (
                lambda s=start, e=end: analytics.event_page(
                    connection=connection, restaurant_id=main_id, start=s, end=e, after=None, limit=1000
                ),
                analytics._EVENT_PAGE,
                {**single, "after_at": start, "after": 0},
            )
            for name, (read, statement, params) in reads.items():
                median = await _timed(read)
                plan = [row[0] for row in await connection.execute(_explained(statement, connection), params)]
                indexes = sorted(set(re.findall(r"(?:using|Bitmap Index Scan on) (\w+)", "\n".join(plan))))
                scans = sorted(
                    set(
                        re.findall(r"(Seq Scan|Index Only Scan|Index Scan|Bitmap Heap Scan)", "\n".join(plan))
                    )
                )
                print(
                    f"[{label}] {name}: median {median:.1f} ms over {RUNS} runs;"
                    f" {', '.join(scans)} on {', '.join(indexes) or '-'}"
                )
                for line in plan:
                    print("    " + line)
                print()


if __name__ == "__main__":
    asyncio.run(main())
