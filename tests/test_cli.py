"""The ``waitline`` command, run as a real process on the test's database: migrate, restaurants, staff tokens.

What it prints on stdout is machine-readable (exactly one JSON object); failures exit non-zero with a
one-line message on stderr and never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import sys
import uuid
from contextlib import closing

import anyio
import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from tests.conftest import join_body
from waitline.config import Settings
from waitline.domain import SLUG_PATTERN
from waitline.services import Services
from waitline.store import migrations
from waitline.store.engine import Database, open_database
from waitline.web.app import create_app

pytestmark = pytest.mark.anyio


class Run:
    """A finished ``waitline`` process."""

    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode = returncode
        self.stdout = stdout.decode()
        self.stderr = stderr.decode()

    def json(self) -> dict[str, str]:
        lines = self.stdout.splitlines()
        assert len(lines) == 1, self.stdout
        value = json.loads(lines[0])
        assert isinstance(value, dict)
        return value


async def waitline(database_url: str, *args: str) -> Run:
    environment = {**os.environ, "WAITLINE_DATABASE_URL": database_url}
    with anyio.fail_after(120):
        process = await anyio.run_process(
            [sys.executable, "-m", "waitline", *args], env=environment, check=False
        )
    return Run(process.returncode, process.stdout, process.stderr)


def assert_clean_failure(run: Run, *, message: str) -> None:
    assert run.returncode != 0
    assert run.stdout == ""
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr


async def test_migrate_brings_an_empty_database_to_the_newest_schema(empty_database_url: str) -> None:
    # Running it again on a current database is covered by the two-at-once test in test_migrations.py.
    run = await waitline(empty_database_url, "migrate")

    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    assert "newest schema" in run.stderr
    head = ScriptDirectory.from_config(migrations.alembic_config()).get_current_head()
    database = open_database(Settings(database_url=empty_database_url))
    try:
        async with database.snapshot() as connection:
            versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars()
            assert list(versions) == [head]
            assert (await connection.execute(text("SELECT count(*) FROM restaurant"))).scalar_one() == 0
    finally:
        await database.dispose()


async def test_restaurant_create_prints_exactly_one_json_object(
    database_url: str, client: httpx.AsyncClient
) -> None:
    run = await waitline(
        database_url, "restaurant", "create", "--slug", "luigis-soho", "--name", "Luigi's Soho"
    )

    assert run.returncode == 0, run.stderr
    printed = run.json()
    assert set(printed) == {"id", "slug", "name"}
    assert uuid.UUID(printed["id"]).version == 4
    assert (printed["slug"], printed["name"]) == ("luigis-soho", "Luigi's Soho")
    summary = await client.get("/api/public/luigis-soho")
    assert summary.status_code == 200
    assert summary.json()["name"] == "Luigi's Soho"
    assert summary.json()["open"] is True
    # Without --region the restaurant takes international numbers only.
    national = await client.post(
        "/api/public/luigis-soho/queue", json=join_body(1, mobileNumber="07911 123456")
    )
    assert national.status_code == 422


async def test_the_region_option_lets_guests_give_national_numbers(sqlite_database_url: str) -> None:
    run = await waitline(
        sqlite_database_url, "restaurant", "create", "--slug", "luigis", "--name", "L", "--region", "gb"
    )
    assert run.returncode == 0, run.stderr

    settings = Settings(database_url=sqlite_database_url)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://waitline.test") as client,
    ):
        national = join_body(1, mobileNumber="07911 123456")
        assert (await client.post("/api/public/luigis/queue", json=national)).status_code == 201


async def test_a_duplicate_slug_fails_cleanly_and_changes_nothing(
    database_url: str, database: Database
) -> None:
    await Services(database=database).restaurants.create(slug="luigis", name="First")

    run = await waitline(database_url, "restaurant", "create", "--slug", "luigis", "--name", "Second")

    assert_clean_failure(run, message="already exists")
    async with database.snapshot() as connection:
        names = (await connection.execute(text("SELECT name FROM restaurant"))).scalars().all()
    assert names == ["First"]


BAD_SLUGS = [
    "Luigis",
    "luigi's",
    "luigis soho",
    "-luigis",
    "luigis-",
    "luigis_soho",
    "",
    "x" * 64,
    "caf\u00e9",
]


@pytest.mark.parametrize("slug", BAD_SLUGS)
def test_the_slug_pattern_refuses(slug: str) -> None:
    assert re.fullmatch(SLUG_PATTERN, slug) is None


@pytest.mark.parametrize("slug", ["a", "7", "luigis", "luigis-soho-2", "x" * 63])
def test_the_slug_pattern_accepts(slug: str) -> None:
    assert re.fullmatch(SLUG_PATTERN, slug) is not None


async def test_bad_slugs_are_rejected_before_anything_is_written(sqlite_database_url: str) -> None:
    # The command line checks the slug (with the pattern tested above) before it opens the database, so
    # one backend is enough here.
    runs: dict[str, Run] = {}

    async def create(slug: str) -> None:
        runs[slug] = await waitline(
            sqlite_database_url, "restaurant", "create", "--slug", slug, "--name", "X"
        )

    async with anyio.create_task_group() as group:
        for slug in ("Luigis", "luigis_soho"):
            group.start_soon(create, slug)

    assert len(runs) == 2
    for slug, run in runs.items():
        assert run.returncode == 2, slug
        assert "--slug" in run.stderr, slug
        assert "lowercase" in run.stderr, slug
        assert "Traceback" not in run.stderr, slug
        assert run.stdout == "", slug
    with closing(sqlite3.connect(sqlite_database_url.removeprefix("sqlite:///"))) as connection:
        assert connection.execute("SELECT count(*) FROM restaurant").fetchone() == (0,)


async def test_tokens_from_the_cli_work_against_the_staff_api(
    database_url: str, database: Database, client: httpx.AsyncClient
) -> None:
    # Restaurants made in process: `restaurant create` has its own test.
    luigis = await Services(database=database).restaurants.create(slug="luigis", name="L")
    marios = await Services(database=database).restaurants.create(slug="marios", name="M")
    runs: list[Run] = []

    async def create_token() -> None:
        runs.append(await waitline(database_url, "token", "create", "--restaurant", "luigis"))

    async with anyio.create_task_group() as group:
        for _ in range(2):
            group.start_soon(create_token)

    tokens = []
    for run in runs:
        assert run.returncode == 0, run.stderr
        printed = run.json()
        assert set(printed) == {"token"}
        tokens.append(printed["token"])
    assert tokens[0] != tokens[1]
    await client.post("/api/public/luigis/queue", json=join_body(1))
    for token in tokens:
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.get(f"/api/admin/{luigis.id}/queue", headers=headers)).status_code == 200
        assert (await client.get(f"/api/admin/{marios.id}/queue", headers=headers)).status_code == 403
    called = await client.post(
        f"/api/admin/{luigis.id}/queue/call-next", headers={"Authorization": f"Bearer {tokens[0]}"}
    )
    assert called.json()["name"] == join_body(1)["name"]


async def test_a_token_for_an_unknown_restaurant_fails_cleanly(database_url: str, database: Database) -> None:
    run = await waitline(database_url, "token", "create", "--restaurant", "nobody-here")

    assert_clean_failure(run, message="No restaurant has this address")
    async with database.snapshot() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM api_token"))).scalar_one() == 0
