"""Backups taken while guests keep joining: the copy is whole, holds every join acknowledged before the backup
began, and a restored copy carries on without reusing a token.

- SQLite: ``waitline backup --to FILE`` (SQLite's backup API, online).
- PostgreSQL: the README's runbook, ``pg_dump --format=custom`` then ``pg_restore`` into a new database.

What each backup saw (joins acknowledged before it, in the copy, in all) is appended to
``test-artifacts/backup-figures.jsonl`` as a record, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests import postgres
from tests.conftest import ARTIFACTS, Server, StaffRestaurant, join_body, make_restaurant
from waitline.config import Settings
from waitline.store.engine import open_database

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

FIGURES = ARTIFACTS / "backup-figures.jsonl"
WRITERS = 8
# Joins go on this long before the backup starts, and after it ends.
LOAD_SECONDS = 0.5
COMMAND_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Acknowledged:
    entry_id: str
    token: int
    at: float  # time.monotonic() when the 201 arrived


async def set_up_restaurant(database_url: str) -> StaffRestaurant:
    database = open_database(Settings(database_url=database_url))
    try:
        return await make_restaurant(database)
    finally:
        await database.dispose()


@asynccontextmanager
async def joining(server: Server, restaurant: StaffRestaurant) -> AsyncIterator[list[Acknowledged]]:
    """Guests join without pause (WRITERS at a time) until the block ends; every 201 is listed as it comes."""
    acknowledged: list[Acknowledged] = []
    stopping = asyncio.Event()
    counter = iter(range(10**6))

    async def writer(client: httpx.AsyncClient) -> None:
        while not stopping.is_set():
            response = await client.post(f"{restaurant.public}/queue", json=join_body(next(counter)))
            assert response.status_code == 201, response.text
            entry = response.json()
            acknowledged.append(Acknowledged(entry["id"], entry["tokenNumber"], time.monotonic()))

    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        tasks = [asyncio.create_task(writer(client)) for _ in range(WRITERS)]
        try:
            await asyncio.sleep(LOAD_SECONDS)
            yield acknowledged
            await asyncio.sleep(LOAD_SECONDS)
        finally:
            stopping.set()
            await asyncio.gather(*tasks)


async def run(*command: str, env: dict[str, str] | None = None) -> str:
    """Runs a command while the event loop (and so the joins) goes on; returns its output."""
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    async with asyncio.timeout(COMMAND_TIMEOUT_SECONDS):
        output, _ = await process.communicate()
    assert process.returncode == 0, output.decode(errors="replace")
    return output.decode()


def record(test: str, before: list[Acknowledged], copied: int, in_all: int) -> None:
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    line = {
        "test": test,
        "acknowledged_before_the_backup": len(before),
        "entries_in_the_copy": copied,
        "acknowledged_in_all": in_all,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with FIGURES.open("a", encoding="utf-8") as output:
        output.write(json.dumps(line) + "\n")


def assert_whole(tokens: list[int], last_token: int) -> None:
    """One restaurant's tokens in a copy: exactly 1..last_token, as in any consistent state."""
    assert sorted(tokens) == list(range(1, last_token + 1))


# --- SQLite -----------------------------------------------------------------------------------------------


async def test_an_online_sqlite_backup_under_joins_holds_every_join_acknowledged_before_it(
    server_factory: Callable[..., Server], sqlite_database_url: str, tmp_path: Path
) -> None:
    restaurant = await set_up_restaurant(sqlite_database_url)
    server = server_factory(sqlite_database_url)
    target = tmp_path / "backup.sqlite3"
    # A long read (a report, say) keeps the joins in the write-ahead log, out of the main file: a copy of
    # the file alone would miss them.
    report = sqlite3.connect(sqlite_database_url.removeprefix("sqlite:///"))
    report.execute("BEGIN")
    report.execute("SELECT count(*) FROM queue_entry").fetchone()

    async with joining(server, restaurant) as acknowledged:
        began = time.monotonic()
        before = [ack for ack in acknowledged if ack.at < began]
        said = await run(
            sys.executable, "-m", "waitline", "backup", "--to", str(target),
            env={"WAITLINE_DATABASE_URL": sqlite_database_url},
        )  # fmt: skip

    report.close()
    with sqlite3.connect(target) as copy:
        (integrity,) = copy.execute("PRAGMA integrity_check").fetchone()
        rows = copy.execute("SELECT id, token_number FROM queue_entry").fetchall()
        (last_token,) = copy.execute("SELECT last_token FROM token_sequence").fetchone()
    copy.close()
    verified = await run(
        sys.executable, "-m", "waitline", "events", "verify", "--restaurant", restaurant.restaurant.slug,
        env={"WAITLINE_DATABASE_URL": f"sqlite:///{target}"},
    )  # fmt: skip
    record("sqlite-online-backup", before, len(rows), len(acknowledged))
    assert json.loads(said)["backup"] == str(target)
    assert f"the event log is intact: {len(rows)} events" in verified
    assert integrity == "ok"
    assert {ack.entry_id for ack in before} <= {str(uuid.UUID(str(row[0]))) for row in rows}
    assert_whole([row[1] for row in rows], last_token)
    assert len(rows) < len(acknowledged)  # the joins went on while it copied


async def test_a_backup_never_overwrites_a_file_and_points_postgresql_to_pg_dump(
    sqlite_database_url: str, pg_database_url: str, tmp_path: Path
) -> None:
    existing = tmp_path / "existing.sqlite3"
    existing.write_text("keep me")

    def backup(url: str, target: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "waitline", "backup", "--to", str(target)],
            env={**os.environ, "WAITLINE_DATABASE_URL": url},
            capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False,
        )  # fmt: skip

    over_a_file = backup(sqlite_database_url, existing)
    on_postgresql = backup(pg_database_url, tmp_path / "new.sqlite3")

    assert over_a_file.returncode != 0 and "exists" in over_a_file.stderr
    assert existing.read_text() == "keep me"
    assert on_postgresql.returncode != 0 and "pg_dump" in on_postgresql.stderr


# --- PostgreSQL: the runbook ------------------------------------------------------------------------------


async def test_a_pg_dump_under_joins_restores_every_acknowledged_join_and_tokens_carry_on(
    server_factory: Callable[..., Server], pg_database_url: str, postgres_admin_url: str, tmp_path: Path
) -> None:
    restaurant = await set_up_restaurant(pg_database_url)
    server = server_factory(pg_database_url)
    dump = tmp_path / "waitline.dump"
    binaries = postgres.binaries()

    # README, "Backups", step 1: dump while the service runs (pg_dump reads one consistent snapshot).
    async with joining(server, restaurant) as acknowledged:
        began = time.monotonic()
        before = [ack for ack in acknowledged if ack.at < began]
        await run(str(binaries / "pg_dump"), "--format=custom", f"--file={dump}", pg_database_url)

    # Step 2: restore into a new, empty database.
    restored = f"waitline_restored_{uuid.uuid4().hex[:12]}"
    await postgres.execute(postgres_admin_url, f"CREATE DATABASE {restored}")
    restored_url = postgres.with_database(postgres_admin_url, restored)
    try:
        await run(str(binaries / "pg_restore"), "--no-owner", f"--dbname={restored_url}", str(dump))
        # Step 3: the schema is current (migrate changes nothing), and the event log's chain is whole.
        await run(sys.executable, "-m", "waitline", "migrate", env={"WAITLINE_DATABASE_URL": restored_url})
        verified = await run(
            sys.executable,
            "-m",
            "waitline",
            "events",
            "verify",
            "--restaurant",
            restaurant.restaurant.slug,
            env={"WAITLINE_DATABASE_URL": restored_url},
        )
        rows, last_token = await entries_in(restored_url)

        # Step 4: serve from it: the next guest gets the next token, never one given before.
        restored_server = server_factory(restored_url)
        async with httpx.AsyncClient(base_url=restored_server.base_url) as client:
            guest = join_body(0, name="After the restore", mobileNumber="+442079460999")
            after = await client.post(f"{restaurant.public}/queue", json=guest)
        rows_after, _ = await entries_in(restored_url)
    finally:
        await postgres.execute(postgres_admin_url, f"DROP DATABASE IF EXISTS {restored} WITH (FORCE)")

    record("postgresql-pg-dump", before, len(rows), len(acknowledged))
    assert f"the event log is intact: {len(rows)} events" in verified  # one `joined` per entry, all chained
    assert {ack.entry_id for ack in before} <= set(rows)
    assert_whole(list(rows.values()), last_token)
    assert len(rows) < len(acknowledged)  # the joins went on while it dumped
    assert after.status_code == 201, after.text
    assert after.json()["tokenNumber"] == last_token + 1
    assert sorted(rows_after.values()) == list(range(1, last_token + 2))


async def entries_in(url: str) -> tuple[dict[str, int], int]:
    """Every entry's token, by id, and the counter (one restaurant)."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT id::text, token_number FROM queue_entry")
        last_token = await connection.fetchval("SELECT last_token FROM token_sequence")
    finally:
        await connection.close()
    return {row["id"]: row["token_number"] for row in rows}, int(last_token)
