"""The bench's data: 1,000 restaurants with staff tokens, made once in a migrated template database and
cloned for every run; queues filled with waiting guests for the call-next scenarios.

Restaurant ``i`` (1-based) has slug ``r<i>``, id ``00000000-0000-4000-8000-<i, 12 digits>`` and staff token
``wl_bench_<i>``, so that wrk's Lua scripts and pgbench's scripts can name it without looking it up.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import asyncpg
from tests.conftest import migrate_database
from tests.postgres import execute

from waitline.auth import token_hash

RESTAURANTS = 1000
TEMPLATE = "bench_template"


def restaurant_id(index: int) -> str:
    return f"00000000-0000-4000-8000-{index:012d}"


def staff_token(index: int) -> str:
    return f"wl_bench_{index}"


def _rows(count: int) -> list[tuple[str, str, str, str]]:
    return [
        (restaurant_id(i), f"r{i}", f"Restaurant {i}", token_hash(staff_token(i)))
        for i in range(1, count + 1)
    ]


async def make_postgres_template(admin_url: str, url_of: dict[str, str], restaurants: int) -> None:
    """Create, migrate and seed the template database (``url_of[TEMPLATE]`` is its URL)."""
    await execute(admin_url, f"DROP DATABASE IF EXISTS {TEMPLATE}", f"CREATE DATABASE {TEMPLATE}")
    await migrate_database(url_of[TEMPLATE])
    await seed_restaurants(url_of[TEMPLATE], restaurants)
    connection = await asyncpg.connect(url_of[TEMPLATE])
    try:
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


async def seed_restaurants(url: str, restaurants: int) -> None:
    """Restaurants 1..``restaurants``, with their counters and staff tokens, into a migrated database."""
    connection = await asyncpg.connect(url)
    try:
        rows = _rows(restaurants)
        await connection.executemany(
            "INSERT INTO restaurant (id, slug, name, default_region) VALUES ($1::uuid, $2, $3, 'GB')",
            [row[:3] for row in rows],
        )
        await connection.executemany(
            "INSERT INTO token_sequence (restaurant_id) VALUES ($1::uuid)", [(row[0],) for row in rows]
        )
        await connection.executemany(
            "INSERT INTO api_token (id, restaurant_id, token_hash) VALUES (gen_random_uuid(), $1::uuid, $2)",
            [(row[0], row[3]) for row in rows],
        )
    finally:
        await connection.close()


async def clone_postgres(admin_url: str, name: str) -> None:
    await execute(
        admin_url,
        f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
        f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}",
    )


# Waiting guests for call-next: tokens 1..per_restaurant in each of the first ``restaurants`` restaurants.
_FILL = """
    INSERT INTO queue_entry (id, restaurant_id, token_number, name, mobile, party_size, status,
                             idempotency_key)
    SELECT gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(r::text, 12, '0'))::uuid, n,
           'Waiting ' || r || '-' || n, '+4471' || lpad(n::text, 8, '0'), 1 + n % 6, 'waiting',
           'fill-' || r || '-' || n
    FROM generate_series(1, $1::int) AS r, generate_series(1, $2::int) AS n
"""


async def fill_queues(url: str, *, restaurants: int, per_restaurant: int) -> None:
    """Empty every queue, then put ``per_restaurant`` waiting guests in each of the first ``restaurants``."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("TRUNCATE queue_entry, rate_limit")
        await connection.execute("UPDATE token_sequence SET last_token = 0")
        await connection.execute(_FILL, restaurants, per_restaurant)
        await connection.execute(
            "UPDATE token_sequence SET last_token = $2 WHERE restaurant_id IN "
            "(SELECT ('00000000-0000-4000-8000-' || lpad(r::text, 12, '0'))::uuid "
            " FROM generate_series(1, $1::int) AS r)",
            restaurants,
            per_restaurant,
        )
        await connection.execute("VACUUM ANALYZE queue_entry")
        await connection.execute("VACUUM ANALYZE token_sequence")
    finally:
        await connection.close()


def make_sqlite_template(path: Path, restaurants: int) -> None:
    asyncio.run(migrate_database(f"sqlite:///{path}"))
    with sqlite3.connect(path) as connection:
        rows = _rows(restaurants)
        connection.executemany(
            "INSERT INTO restaurant (id, slug, name, default_region) VALUES (?, ?, ?, 'GB')",
            [row[:3] for row in rows],
        )
        connection.executemany(
            "INSERT INTO token_sequence (restaurant_id) VALUES (?)", [(row[0],) for row in rows]
        )
        connection.executemany(
            "INSERT INTO api_token (id, restaurant_id, token_hash) VALUES (lower(hex(randomblob(16))), ?, ?)",
            [(row[0], row[3]) for row in rows],
        )
    connection.close()


def clone_sqlite(template: Path, path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, path)


async def count_called(url: str) -> int:
    """How many entries have been called (since the last fill)."""
    connection = await asyncpg.connect(url)
    try:
        count: int = await connection.fetchval("SELECT count(*) FROM queue_entry WHERE status = 'called'")
    finally:
        await connection.close()
    return count
