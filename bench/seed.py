"""The bench's data: 1,000 restaurants with staff tokens, made once in a migrated template database and
cloned for every run; queues filled with waiting guests (and their `joined` events) for the call-next
scenarios.

Restaurant ``i`` (1-based) has slug ``r<i>``, id ``00000000-0000-4000-8000-<i, 12 digits>`` and staff token
``wl_bench_<i>``, so that wrk's Lua scripts and pgbench's scripts can name it without looking it up.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from tests.conftest import migrate_database
from tests.postgres import execute

from waitline.auth import token_hash
from waitline.domain import GUEST, ChainHead, EventType
from waitline.domain.event import canonical_encoding, chain_hash

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
    await make_database(admin_url, TEMPLATE, url_of[TEMPLATE], restaurants, migrate=migrate_database)


async def make_database(
    admin_url: str, name: str, url: str, restaurants: int, *, migrate: Callable[[str], Awaitable[None]]
) -> None:
    """(Re)create database ``name`` at ``url``, bring it to a schema with ``migrate``, and seed it."""
    await execute(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    await migrate(url)
    await seed_restaurants(url, restaurants)
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


async def seed_restaurants(url: str, restaurants: int) -> None:
    """Restaurants 1..``restaurants``, with their counters and staff tokens, into a migrated database."""
    connection = await asyncpg.connect(url)
    try:
        rows = _rows(restaurants)
        # One organisation owns them all (since migration 0007 every restaurant belongs to one; the
        # baseline of scenario 6 predates it).
        if await connection.fetchval("SELECT to_regclass('organisation') IS NOT NULL"):
            organisation_id = await connection.fetchval(
                "INSERT INTO organisation (id, name) VALUES (gen_random_uuid(), 'bench') RETURNING id"
            )
            await connection.executemany(
                "INSERT INTO restaurant (id, slug, name, default_region, organisation_id)"
                " VALUES ($1::uuid, $2, $3, 'GB', $4)",
                [(*row[:3], organisation_id) for row in rows],
            )
        else:
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


async def fill_queues(url: str, *, restaurants: int, per_restaurant: int) -> dict[str, int]:
    """Empty every queue, then put ``per_restaurant`` waiting guests (tokens 1..per_restaurant) in each of
    the first ``restaurants``, each with its `joined` event chained onto the restaurant's log, as the app
    would have recorded it. The log is append-only: the events of the guests emptied out stay in it.

    Returns every restaurant's log head (its last seq) from before the fill: the events after it are the
    ones the next history is judged by.
    """
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            rows = await connection.fetch("SELECT restaurant_id, last_seq, last_hash FROM token_sequence")
            before = {row["restaurant_id"]: ChainHead(row["last_seq"], row["last_hash"]) for row in rows}
            # CASCADE: with whatever refers to the entries in this schema (a guest's email, language, push
            # subscription, messages...), which differs between HEAD and the baseline.
            await connection.execute("TRUNCATE queue_entry, rate_limit CASCADE")
            await connection.execute("UPDATE token_sequence SET last_token = 0")
            entries: list[tuple[object, ...]] = []
            events: list[tuple[object, ...]] = []
            heads = []
            for r in range(1, restaurants + 1):
                rid = uuid.UUID(restaurant_id(r))
                head = before[rid]
                for n in range(1, per_restaurant + 1):
                    entry_id = uuid.uuid4()
                    name, mobile, key = f"Waiting {r}-{n}", f"+4471{n:08d}", f"fill-{r}-{n}"
                    entries.append((entry_id, rid, n, name, mobile, 1 + n % 6, "waiting", key))
                    event, head = _joined(rid, entry_id, n, head)
                    events.append(event)
                heads.append((rid, per_restaurant, head.seq, head.hash))
            await connection.copy_records_to_table("queue_entry", records=entries, columns=_FILL_COLUMNS)
            # The analytics rollups' trigger (since 0012) would update the same few rows once per event in
            # one transaction, each update walking the row's earlier versions: minutes for a fill. The bench
            # reads no analytics, so it is off for the copy (ALTER TABLE is transactional: back on at commit).
            rollups = await connection.fetchval(
                "SELECT 1 FROM pg_trigger WHERE tgname = 'queue_event_roll_up' AND NOT tgisinternal"
            )
            if rollups:
                await connection.execute("ALTER TABLE queue_event DISABLE TRIGGER queue_event_roll_up")
            await connection.copy_records_to_table("queue_event", records=events, columns=_EVENT_COLUMNS)
            if rollups:
                await connection.execute("ALTER TABLE queue_event ENABLE TRIGGER queue_event_roll_up")
            await connection.executemany(
                "UPDATE token_sequence SET last_token = $2, last_seq = $3, last_hash = $4 "
                "WHERE restaurant_id = $1",
                heads,
            )
            # The counter row's count of waiting parties (migration 0016; the baseline's schema has none).
            if await connection.fetchval(
                "SELECT 1 FROM information_schema.columns"
                " WHERE table_name = 'token_sequence' AND column_name = 'waiting'"
            ):
                await connection.execute(
                    "UPDATE token_sequence s SET waiting = (SELECT count(*) FROM queue_entry e"
                    " WHERE e.restaurant_id = s.restaurant_id AND e.status = 'waiting')"
                )
        await connection.execute("VACUUM ANALYZE queue_entry")
        await connection.execute("VACUUM ANALYZE token_sequence")
    finally:
        await connection.close()
    return {str(rid): head.seq for rid, head in before.items()}


_FILL_COLUMNS = (
    "id",
    "restaurant_id",
    "token_number",
    "name",
    "mobile",
    "party_size",
    "status",
    "idempotency_key",
)
_EVENT_COLUMNS = (
    "restaurant_id",
    "seq",
    "type",
    "entry_id",
    "token_number",
    "actor_kind",
    "at",
    "prev_hash",
    "hash",
)


def _joined(
    rid: uuid.UUID, entry_id: uuid.UUID, token: int, head: ChainHead
) -> tuple[tuple[object, ...], ChainHead]:
    """A guest's `joined` event chained onto ``head``, as a row of _EVENT_COLUMNS; and the new head."""
    seq, at = head.seq + 1, datetime.now(UTC)
    encoding = canonical_encoding(
        restaurant_id=rid,
        seq=seq,
        type=EventType.JOINED.value,
        entry_id=entry_id,
        token_number=token,
        actor_kind=GUEST.kind.value,
        actor_id=None,
        reason=None,
        details=None,
        at=at,
    )
    event_hash = chain_hash(head.hash, encoding)
    row = (rid, seq, EventType.JOINED.value, entry_id, token, GUEST.kind.value, at, head.hash, event_hash)
    return row, ChainHead(seq, event_hash)


def make_sqlite_template(path: Path, restaurants: int) -> None:
    asyncio.run(migrate_database(f"sqlite:///{path}"))
    with sqlite3.connect(path) as connection:
        rows = _rows(restaurants)
        organisation_id = str(uuid.uuid4())
        connection.execute("INSERT INTO organisation (id, name) VALUES (?, 'bench')", (organisation_id,))
        connection.executemany(
            "INSERT INTO restaurant (id, slug, name, default_region, organisation_id)"
            " VALUES (?, ?, ?, 'GB', ?)",
            [(*row[:3], organisation_id) for row in rows],
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
