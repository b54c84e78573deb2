"""Each test gets its own database, cloned from a migrated template, on PostgreSQL and on SQLite.

``database_url`` is parametrised over both backends; ``pg_database_url`` is PostgreSQL only. ``server`` is a
real ``waitline serve`` process on the test's database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests import postgres
from waitline.config import Settings
from waitline.domain import Restaurant
from waitline.services import Services
from waitline.store import migrations
from waitline.store.engine import Database, make_engine, open_database
from waitline.web.app import create_app

# Fixtures that live beside the code they drive.
pytest_plugins = ["tests.redis_server", "tests.log_audit"]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- databases --------------------------------------------------------------------------------------------


async def migrate_database(url: str) -> None:
    engine = make_engine(Settings(database_url=url))
    try:
        await migrations.upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A superuser URL of a PostgreSQL server: WAITLINE_TEST_POSTGRES_URL, else the local one, else a
    throwaway one. Each pytest-xdist worker starts a throwaway server of its own (unless the URL is given):
    the workers' server processes and pools together would pass a default server's 100 connections."""
    url = os.environ.get("WAITLINE_TEST_POSTGRES_URL")
    if url is None and "PYTEST_XDIST_WORKER" not in os.environ:
        url = postgres.DEFAULT_URL
    if url is not None and postgres.answers(url):
        yield url
        return
    with postgres.throwaway_server() as server:
        yield server.admin_url


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> Iterator[str]:
    """Name of a migrated template database, made once per session."""
    name = f"waitline_template_{os.getpid()}"
    asyncio.run(
        postgres.execute(postgres_admin_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    )
    asyncio.run(migrate_database(postgres.with_database(postgres_admin_url, name)))
    yield name
    asyncio.run(postgres.execute(postgres_admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    asyncio.run(migrate_database(f"sqlite:///{path}"))
    return path


@pytest.fixture
def pg_database_url(postgres_admin_url: str, postgres_template: str) -> Iterator[str]:
    name = f"waitline_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(postgres.execute(postgres_admin_url, f"CREATE DATABASE {name} TEMPLATE {postgres_template}"))
    yield postgres.with_database(postgres_admin_url, name)
    asyncio.run(postgres.execute(postgres_admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def sqlite_database_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "waitline.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it at all (not cloned from the migrated template)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/empty.sqlite3"
        return
    admin_url: str = request.getfixturevalue("postgres_admin_url")
    name = f"waitline_empty_{uuid.uuid4().hex[:12]}"
    asyncio.run(postgres.execute(admin_url, f"CREATE DATABASE {name}"))
    yield postgres.with_database(admin_url, name)
    asyncio.run(postgres.execute(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "pg_database_url" if request.param == "postgresql" else "sqlite_database_url"
    url: str = request.getfixturevalue(fixture)
    return url


# For tests that call services.queue.join directly: one made-up client address.
CLIENT_IP = "192.0.2.1"

# The rate limits are off unless a test is about them: most tests join from one address, many times.
LIMITS_OFF = {
    "WAITLINE_RATE_LIMIT_PER_IP": "off",
    "WAITLINE_RATE_LIMIT_PER_MOBILE": "off",
    "WAITLINE_RATE_LIMIT_SIGN_IN_PER_IP": "off",
}

# The storms queue 100 requests per server process behind its 20 connections (on SQLite, behind its one
# writer). On a busy 2-core machine (the suite runs one worker per core) one can wait longer than
# production's bounds (2 s for a connection, 5 s for a transaction) and get a 503: right in production, and
# not what a storm tests. The bounded waits are tested in test_pool_exhaustion, which sets its own.
PATIENT_WAITS = {"WAITLINE_POOL_TIMEOUT_SECONDS": "30", "WAITLINE_TRANSACTION_TIMEOUT_SECONDS": "30"}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        rate_limit_per_ip="off",
        rate_limit_per_mobile="off",
        rate_limit_sign_in_per_ip="off",
    )


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    database = open_database(settings)
    yield database
    await database.dispose()


@pytest.fixture
def services(database: Database) -> Services:
    """The use cases on the test's database: no rate limits, nobody observing."""
    return Services(database=database)


# --- the app in process -----------------------------------------------------------------------------------


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://waitline.test") as client:
        yield client


@dataclass(frozen=True)
class StaffRestaurant:
    restaurant: Restaurant
    token: str

    @property
    def admin(self) -> str:
        return f"/api/admin/{self.restaurant.id}"

    @property
    def public(self) -> str:
        return f"/api/public/{self.restaurant.slug}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_restaurant(
    database: Database, slug: str = "luigis", region: str | None = "GB"
) -> StaffRestaurant:
    services = Services(database=database)
    restaurant = await services.restaurants.create(slug=slug, name=slug.title(), default_region=region)
    token = await services.accounts.create_api_token(slug=slug)
    return StaffRestaurant(restaurant=restaurant, token=token)


@pytest.fixture
async def restaurant(database: Database) -> StaffRestaurant:
    return await make_restaurant(database)


def join_body(index: int = 0, **overrides: object) -> dict[str, object]:
    """A valid join body; ``index`` varies the guest."""
    body: dict[str, object] = {
        "name": f"Guest {index}",
        "mobileNumber": f"+1415555{index % 10000:04d}",
        "partySize": 1 + index % 6,
    }
    body.update(overrides)
    return body


# --- real server processes --------------------------------------------------------------------------------


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path
    # Set when it serves on a Unix socket (WAITLINE_UNIX_SOCKET) rather than on base_url's port.
    unix_socket: Path | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def transport(self) -> httpx.HTTPTransport | None:
        return httpx.HTTPTransport(uds=str(self.unix_socket)) if self.unix_socket else None


def start_server(
    database_url: str,
    log: Path,
    *,
    host: str = "127.0.0.1",
    workers: int = 1,
    unix_socket: Path | None = None,
    **env: str,
) -> Server:
    port = postgres.free_port()
    environment = {**os.environ, **LIMITS_OFF, **PATIENT_WAITS, "WAITLINE_DATABASE_URL": database_url, **env}
    if unix_socket is not None:
        environment["WAITLINE_UNIX_SOCKET"] = str(unix_socket)
    # Each server makes its own metrics folder (--workers); never one inherited from whoever runs the tests.
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, "-m", "waitline", "serve", "--host", host, "--port", str(port)]
    # Append mode: with --workers several processes write this file; O_APPEND keeps their lines whole.
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base_url = "http://waitline.test" if unix_socket else f"http://127.0.0.1:{port}"
    server = Server(base_url=base_url, process=process, log=log, unix_socket=unix_socket)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"waitline serve exited with {process.returncode}:\n{server.output()}")
        if unix_socket is not None and not unix_socket.exists():
            time.sleep(0.1)  # not there yet (httpcore would leak the socket it tried to connect)
            continue
        try:
            with httpx.Client(transport=server.transport(), timeout=1) as client:
                if client.get(f"{server.base_url}/healthz").status_code == 200:
                    return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"waitline serve did not come up:\n{server.output()}")


def stop_server(server: Server) -> int:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    return server.process.returncode


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def factory(database_url: str, **env: str) -> Server:
        server = start_server(database_url, tmp_path / f"server-{len(started)}.log", **env)
        started.append(server)
        return server

    yield factory
    for server in started:
        stop_server(server)


@pytest.fixture
def server(server_factory: Callable[..., Server], database_url: str) -> Server:
    return server_factory(database_url)
