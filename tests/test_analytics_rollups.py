"""The rollups the event log keeps (migration 0011) answer as the exact reads of the log and the entries do:
counts equal, parties and quotes equal, medians and 90th percentiles within half a minute (the histograms'
whole minutes), for ranges made of whole months and days around them, in UTC and in New York; and the
migration's backfill writes exactly what the trigger wrote. On both databases."""

from __future__ import annotations

import importlib
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from bench import history
from sqlalchemy import text

from tests.conftest import StaffRestaurant
from waitline.domain.analytics import Waits, WaitStats, day_bounds
from waitline.domain.rollup import PRECISION_MINUTES, Periods
from waitline.store import analytics, rollups
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio

MIGRATION = importlib.import_module("waitline.migrations.versions.0012_rollups")
# Generated: 2026-09-30 to 2026-10-31. A day, days inside a month, a whole month, and a month with a day
# either side (the three kinds of rows at once), and a range past the history.
RANGES = (
    (date(2026, 10, 7), date(2026, 10, 7)),
    (date(2026, 10, 3), date(2026, 10, 19)),
    (date(2026, 10, 1), date(2026, 10, 31)),
    (date(2026, 9, 30), date(2026, 10, 31)),
    (date(2026, 9, 30), date(2026, 11, 30)),
)


async def generate(database: Database, restaurant: StaffRestaurant, zone: str) -> None:
    async with database.transaction() as connection:
        await connection.execute(
            text("UPDATE restaurant SET time_zone = :zone WHERE id = :id"),
            {"zone": zone, "id": str(restaurant.restaurant.id)},
        )
        parties = history.simulate(
            first_day=date(2026, 9, 30),
            days=32,
            parties_per_day=20,
            seed=11,
            quote=lambda party: (party.position * 2, party.position * 3 + 4),
        )
        # Through the trigger, event by event (bulk=False), as live; the backfill is checked against it below.
        await history.write(connection, restaurant.restaurant.id, parties, bulk=False)


def assert_close(rolled: WaitStats, exact: WaitStats) -> None:
    assert (rolled.parties, rolled.quoted, rolled.inside) == (exact.parties, exact.quoted, exact.inside)
    for name in ("call_median", "call_p90", "seat_median", "seat_p90"):
        found, wanted = getattr(rolled, name), getattr(exact, name)
        if wanted is None:
            assert found is None, name
        else:
            assert found == pytest.approx(wanted, abs=PRECISION_MINUTES + 1e-9), name


def assert_agree(rolled: Waits, exact: Waits) -> None:
    assert_close(rolled.overall, exact.overall)
    assert rolled.by_hour.keys() == exact.by_hour.keys()
    assert rolled.by_party_size.keys() == exact.by_party_size.keys()
    for hour, stats in exact.by_hour.items():
        assert_close(rolled.by_hour[hour], stats)
    for size, stats in exact.by_party_size.items():
        assert_close(rolled.by_party_size[size], stats)


@pytest.mark.parametrize("zone_name", ["UTC", "America/New_York"])
async def test_the_rollups_answer_as_the_log_and_the_entries_do(
    database: Database, restaurant: StaffRestaurant, zone_name: str
) -> None:
    await generate(database, restaurant, zone_name)
    zone = ZoneInfo(zone_name)
    ids = [restaurant.restaurant.id]
    async with database.snapshot() as connection:
        for first, last in RANGES:
            start, end = day_bounds(first, last, zone)
            exact_counts = await analytics.counts(
                connection=connection, restaurant_ids=ids, start=start, end=end
            )
            exact_waits = await analytics.waits(
                connection=connection, restaurant_ids=ids, start=start, end=end, zone=zone
            )
            counted = await rollups.counts(connection=connection, restaurant_ids=ids, first=first, last=last)
            waited = await rollups.waits(connection=connection, restaurant_ids=ids, first=first, last=last)
            assert counted == exact_counts, (first, last)
            assert_agree(waited, exact_waits)
            if (first, last) == RANGES[3]:
                assert exact_counts.joined > 500 and exact_waits.overall.quoted > 300
                assert Periods.of(first, last).days  # months and days read together


async def rows(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    async with database.snapshot() as connection:
        for table in ("analytics_count", "analytics_wait"):
            result = await connection.execute(text(f"SELECT * FROM {table}"))  # noqa: S608 (a constant)
            found[table] = sorted(tuple(str(value) for value in row) for row in result)
    return found


async def test_the_migrations_backfill_writes_what_the_trigger_wrote(
    database: Database, restaurant: StaffRestaurant
) -> None:
    await generate(database, restaurant, "Europe/Paris")
    written = await rows(database)
    assert len(written["analytics_wait"]) > 1000
    async with database.transaction() as connection:
        await connection.execute(text("DELETE FROM analytics_count"))
        await connection.execute(text("DELETE FROM analytics_wait"))
        if connection.dialect.name == "postgresql":
            counts_day, parts = "(q.at AT TIME ZONE r.time_zone)::date", MIGRATION.POSTGRESQL_PARTS
        else:
            counts_day, parts = "waitline_local_day(q.at, r.time_zone)", MIGRATION.SQLITE_PARTS
        every = MIGRATION.EVERY
        await connection.execute(text(MIGRATION.BACKFILL_COUNTS.format(day=counts_day, restaurants=every)))
        await connection.execute(text(MIGRATION.BACKFILL_WAITS.format(**parts, restaurants=every)))
    assert await rows(database) == written
