"""PostgreSQL restarted, or stopped and started, under a real server: requests fail fast with 503, the pool
recovers by itself, and no acknowledged join is lost.

Sixteen "phones" keep joining, each submission retried with its idempotency key on 503 or a connection
error, while PostgreSQL is restarted (``pg_ctl restart -m fast``) or stopped for two seconds. These tests stop
a PostgreSQL server, so they run on a private one (``tests.postgres.throwaway_server``), never on the shared
server the rest of the suite uses. What each outage cost (failed requests, longest request, time to recover)
is appended to ``test-artifacts/outage-figures.jsonl`` as a record for people, never asserted.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from tests import postgres
from tests.conftest import (
    ARTIFACTS,
    Server,
    StaffRestaurant,
    join_body,
    make_restaurant,
    migrate_database,
)
from waitline.config import Settings
from waitline.store.engine import Database, open_database
from waitline.web.problems import MEDIA_TYPE

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

FIGURES = ARTIFACTS / "outage-figures.jsonl"

CLIENTS = 16
# A phone's patience: the client gives up on one request after this long. It must never fire: a request
# that takes this long is a hang.
CLIENT_TIMEOUT_SECONDS = 10.0
# Between retries of one submission (a real phone would honour Retry-After; the test is in a hurry).
RETRY_PAUSE_SECONDS = 0.2
MAX_ATTEMPTS_PER_KEY = 100
LOAD_BEFORE_OUTAGE_SECONDS = 1.5
LOAD_AFTER_RECOVERY_SECONDS = 1.5
DOWN_SECONDS = 2.0
# Every wait in here is bounded by one of these.
SCENARIO_TIMEOUT_SECONDS = 90.0
RECOVERY_TIMEOUT_SECONDS = 30.0


# --- a PostgreSQL of our own, to stop and start -----------------------------------------------------------


async def started_at(admin_url: str) -> datetime:
    """When the server process started: a restart changes it."""
    connection = await asyncpg.connect(admin_url, timeout=10)
    try:
        started: datetime = await connection.fetchval("SELECT pg_postmaster_start_time()")
    finally:
        await connection.close()
    return started


def timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[postgres.PostgresServer]:
    with postgres.throwaway_server() as server:
        yield server


@pytest.fixture
def outage_database_url(private_postgres: postgres.PostgresServer) -> Iterator[str]:
    name = f"waitline_outage_{uuid.uuid4().hex[:12]}"
    asyncio.run(postgres.execute(private_postgres.admin_url, f"CREATE DATABASE {name}"))
    url = postgres.with_database(private_postgres.admin_url, name)
    asyncio.run(migrate_database(url))
    yield url
    if postgres.answers(private_postgres.admin_url):
        asyncio.run(
            postgres.execute(private_postgres.admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        )


@pytest.fixture
async def outage_database(outage_database_url: str) -> AsyncIterator[Database]:
    database = open_database(Settings(database_url=outage_database_url))
    yield database
    await database.dispose()


@pytest.fixture
async def outage_restaurant(outage_database: Database) -> StaffRestaurant:
    return await make_restaurant(outage_database)


@pytest.fixture
def outage_server(server_factory: Callable[..., Server], outage_database_url: str) -> Server:
    return server_factory(outage_database_url)


# --- what the phones saw ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    key: str
    started: float  # time.perf_counter()
    seconds: float
    status: int | None  # None: no HTTP answer at all
    error: str | None = None  # the transport error's class, when there was no answer
    timed_out: bool = False
    unavailable_problem: bool = False  # a 503 that is problem+json with Retry-After

    @property
    def ended(self) -> float:
        return self.started + self.seconds


def is_unavailable_problem(response: httpx.Response) -> bool:
    if response.status_code != 503:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return bool(
        response.headers.get("content-type", "").startswith(MEDIA_TYPE)
        and response.headers.get("retry-after", "").isdigit()
        and body.get("status") == 503
        and body.get("type") == "urn:waitline:problem:service-unavailable"
    )


@dataclass
class Phones:
    """Guests joining from phones: each submission keeps its idempotency key through every retry."""

    client: httpx.AsyncClient
    url: str
    attempts: list[Attempt] = field(default_factory=list)
    acknowledged: dict[str, dict[str, object]] = field(default_factory=dict)  # key -> the entry answered
    gave_up: list[str] = field(default_factory=list)
    numbers: Iterator[int] = field(default_factory=itertools.count)
    # Set by the first success of a request that started at watch_from or later.
    watch_from: float | None = None
    recovered: asyncio.Event = field(default_factory=asyncio.Event)

    async def submit(self, index: int) -> None:
        key = f"outage-{index}"
        body = join_body(index, idempotencyKey=key)
        for _ in range(MAX_ATTEMPTS_PER_KEY):
            started = time.perf_counter()
            try:
                response = await self.client.post(self.url, json=body)
            except httpx.TimeoutException as error:
                self._record(key, started, None, error=type(error).__name__, timed_out=True)
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            except httpx.TransportError as error:
                self._record(key, started, None, error=type(error).__name__)
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            self._record(key, started, response.status_code, unavailable=is_unavailable_problem(response))
            if response.status_code in (200, 201):
                self.acknowledged[key] = response.json()
                return
            if response.status_code != 503:
                return  # anything else is not worth retrying (and fails the test)
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
        self.gave_up.append(key)

    async def keep_joining(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.submit(next(self.numbers))

    def _record(
        self,
        key: str,
        started: float,
        status: int | None,
        *,
        error: str | None = None,
        timed_out: bool = False,
        unavailable: bool = False,
    ) -> None:
        if status in (200, 201) and self.watch_from is not None and started >= self.watch_from:
            self.recovered.set()
        self.attempts.append(
            Attempt(
                key=key,
                started=started,
                seconds=time.perf_counter() - started,
                status=status,
                error=error,
                timed_out=timed_out,
                unavailable_problem=unavailable,
            )
        )

    async def succeeding_from(self, moment: float) -> None:
        """Once a request started at ``moment`` or later has succeeded."""
        self.watch_from = moment
        if self.first_success_after(moment) is None:
            await self.recovered.wait()

    def first_success_after(self, moment: float) -> float | None:
        ends = [a.ended for a in self.attempts if a.status in (200, 201) and a.started >= moment]
        return min(ends, default=None)


def record_figures(test: str, **figures: object) -> None:
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    line = {"test": test, **figures, "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")}
    with FIGURES.open("a", encoding="utf-8") as output:
        output.write(json.dumps(line, default=str) + "\n")


async def stored_keys_and_tokens(database: Database, restaurant_id: uuid.UUID) -> list[tuple[str, int]]:
    statement = text(
        "SELECT idempotency_key, token_number FROM queue_entry WHERE restaurant_id = :restaurant_id "
        "ORDER BY token_number"
    )
    async with database.snapshot() as connection:
        rows = (await connection.execute(statement, {"restaurant_id": str(restaurant_id)})).all()
    return [(str(row[0]), int(row[1])) for row in rows]


async def until_ready(client: httpx.AsyncClient) -> float:
    """Poll /readyz until it says 200; returns how long that took (bounded)."""
    started = time.perf_counter()
    async with asyncio.timeout(RECOVERY_TIMEOUT_SECONDS):
        while True:
            if (await client.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.1)
    return time.perf_counter() - started


# --- the tests --------------------------------------------------------------------------------------------


def restart(server: postgres.PostgresServer) -> float:
    return timed(server.restart)


def stop_for_a_while_and_start(server: postgres.PostgresServer) -> float:
    took = timed(server.stop)
    time.sleep(DOWN_SECONDS)
    return took + DOWN_SECONDS + timed(server.start)


@pytest.mark.parametrize("outage", [restart, stop_for_a_while_and_start], ids=["restart", "down-2s"])
async def test_postgresql_going_away_under_retrying_phones_loses_no_acknowledged_join_and_recovers_alone(
    outage: Callable[[postgres.PostgresServer], float],
    private_postgres: postgres.PostgresServer,
    outage_server: Server,
    outage_database: Database,
    outage_restaurant: StaffRestaurant,
) -> None:
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(
        base_url=outage_server.base_url, limits=limits, timeout=CLIENT_TIMEOUT_SECONDS
    ) as client:
        phones = Phones(client=client, url=f"{outage_restaurant.public}/queue")
        stop = asyncio.Event()
        async with asyncio.timeout(SCENARIO_TIMEOUT_SECONDS), asyncio.TaskGroup() as group:
            for _ in range(CLIENTS):
                group.create_task(phones.keep_joining(stop))
            await asyncio.sleep(LOAD_BEFORE_OUTAGE_SECONDS)
            acknowledged_before = len(phones.acknowledged)
            postgres_started = await started_at(private_postgres.admin_url)

            outage_started = time.perf_counter()
            outage_seconds = await asyncio.to_thread(outage, private_postgres)
            postgres_back = time.perf_counter()

            await phones.succeeding_from(postgres_back)
            await asyncio.sleep(LOAD_AFTER_RECOVERY_SECONDS)
            stop.set()  # no new submissions; the ones under way finish their retries
        first_success = phones.first_success_after(postgres_back)
        assert first_success is not None

        # The same process answers again: no app restart was needed.
        assert outage_server.process.poll() is None
        ready = await client.get("/readyz")
        after = await client.post(
            f"{outage_restaurant.public}/queue", json=join_body(999_999, idempotencyKey="after-restart")
        )

    attempts = phones.attempts
    statuses = Counter(attempt.status for attempt in attempts)
    failed = [attempt for attempt in attempts if attempt.status not in (200, 201)]
    longest = max(attempts, key=lambda attempt: attempt.seconds)
    await outage_database.dispose()  # the test's own pooled connection did not survive the outage
    stored = await stored_keys_and_tokens(outage_database, outage_restaurant.restaurant.id)
    record_figures(
        f"postgresql-{outage.__name__.replace('_', '-')}-under-load",
        clients=CLIENTS,
        requests=len(attempts),
        submissions=len(phones.acknowledged) + len(phones.gave_up),
        acknowledged=len(phones.acknowledged),
        acknowledged_before_outage=acknowledged_before,
        statuses={str(status): count for status, count in statuses.items()},
        failed_requests=len(failed),
        connection_errors=Counter(attempt.error for attempt in attempts if attempt.error),
        submissions_that_needed_a_retry=len({attempt.key for attempt in failed}),
        replayed_after_a_lost_answer=statuses.get(200, 0),
        longest_request_seconds=round(longest.seconds, 3),
        longest_request_status=longest.status,
        outage_seconds=round(outage_seconds, 3),
        postgresql_back_to_first_success_seconds=round(first_success - postgres_back, 3),
        outage_command_to_first_success_seconds=round(first_success - outage_started, 3),
        failures_from_outage_command_seconds=(
            [
                round(min(a.ended for a in failed) - outage_started, 3),
                round(max(a.ended for a in failed) - outage_started, 3),
            ]
            if failed
            else None
        ),
        retry_pause_seconds=RETRY_PAUSE_SECONDS,
    )

    # No hang and no 500: every answer is a success or a proper 503, every other failure a connection error.
    assert not [attempt for attempt in attempts if attempt.timed_out], (
        "a request hung until the client gave up"
    )
    assert set(statuses) <= {200, 201, 503, None}, statuses
    assert all(attempt.unavailable_problem for attempt in attempts if attempt.status == 503)
    assert not phones.gave_up, f"{len(phones.gave_up)} submissions never got an answer"
    assert await started_at(private_postgres.admin_url) > postgres_started  # it did go away

    # Every acknowledged key is there exactly once, with the token it was told; tokens 1..N, no gaps.
    keys = [key for key, _token in stored]
    assert len(keys) == len(set(keys))
    acknowledged = {key: entry["tokenNumber"] for key, entry in phones.acknowledged.items()}
    assert after.status_code == 201, after.text
    acknowledged["after-restart"] = after.json()["tokenNumber"]
    assert dict(stored) == acknowledged
    assert [token for _key, token in stored] == list(range(1, len(stored) + 1))
    assert ready.status_code == 200


async def test_with_postgresql_stopped_requests_fail_fast_with_503_and_it_recovers_once_started(
    private_postgres: postgres.PostgresServer, outage_server: Server, outage_restaurant: StaffRestaurant
) -> None:
    body = join_body(1, idempotencyKey="while-stopped")
    async with httpx.AsyncClient(base_url=outage_server.base_url, timeout=CLIENT_TIMEOUT_SECONDS) as client:
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.post(f"{outage_restaurant.public}/queue", json=join_body(0))).status_code == 201

        await asyncio.to_thread(private_postgres.stop)
        try:
            # A client timeout here (httpx.TimeoutException) would be the hang this test is about.
            healthz = await client.get("/healthz")
            readyz = await client.get("/readyz")
            join = await client.post(f"{outage_restaurant.public}/queue", json=body)
            summary = await client.get(outage_restaurant.public)
            staff = await client.get(f"{outage_restaurant.admin}/queue", headers=outage_restaurant.headers)
        finally:
            await asyncio.to_thread(private_postgres.start)

        recovered_after = await until_ready(client)
        rejoin = await client.post(f"{outage_restaurant.public}/queue", json=body)
        replay = await client.post(f"{outage_restaurant.public}/queue", json=body)

    record_figures(
        "postgresql-stopped",
        seconds={
            name: round(response.elapsed.total_seconds(), 3)
            for name, response in {"readyz": readyz, "join": join, "summary": summary, "staff": staff}.items()
        },
        started_to_ready_seconds=round(recovered_after, 3),
    )
    assert healthz.status_code == 200
    for response in (readyz, join, summary, staff):
        assert is_unavailable_problem(response), (response.status_code, response.headers, response.text)
    assert outage_server.process.poll() is None
    # The join refused while the database was down was not written: the same key now makes token 2.
    assert rejoin.status_code == 201, rejoin.text
    assert rejoin.json()["tokenNumber"] == 2
    assert replay.status_code == 200
    assert replay.json()["id"] == rejoin.json()["id"]


async def test_the_apps_sessions_commit_synchronously_even_where_the_database_default_is_off(
    private_postgres: postgres.PostgresServer, outage_database_url: str
) -> None:
    name = outage_database_url.rpartition("/")[2]
    await postgres.execute(private_postgres.admin_url, f"ALTER DATABASE {name} SET synchronous_commit = off")
    plain = await asyncpg.connect(outage_database_url, timeout=10)
    try:
        database_default = await plain.fetchval("SHOW synchronous_commit")
    finally:
        await plain.close()

    # The database handle create_app builds for its services.
    database = open_database(Settings(database_url=outage_database_url))
    try:
        async with database.single_statement() as connection:
            for_joins = (await connection.exec_driver_sql("SHOW synchronous_commit")).scalar_one()
        async with database.transaction() as connection:
            for_transactions = (await connection.exec_driver_sql("SHOW synchronous_commit")).scalar_one()
    finally:
        await database.dispose()

    assert database_default == "off"  # so "on" below is the app's doing
    assert (for_joins, for_transactions) == ("on", "on")
