"""Real concurrency against real ``waitline serve`` processes: a start gun, draining callers, figures.

Requests are built first and released together once every task is waiting at the gun, so they reach the
server at the same moment rather than in the order they were written. Every storm is bounded in time;
the figures it saw are appended to ``test-artifacts/concurrency-figures.jsonl`` as a record, never checked.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text

from tests.conftest import ARTIFACTS
from waitline.store.engine import Database

FIGURES = ARTIFACTS / "concurrency-figures.jsonl"
STORM_TIMEOUT_SECONDS = 60.0
REQUEST_TIMEOUT_SECONDS = 30.0
KEEPALIVE_SECONDS = 2.0


def storm_client(
    base_url: str, concurrency: int, *, timeout: httpx.Timeout | float = REQUEST_TIMEOUT_SECONDS
) -> httpx.AsyncClient:
    """A client that can hold ``concurrency`` requests open at once (httpx's default pool allows 100).

    An idle connection is dropped after ``KEEPALIVE_SECONDS``, before the server's keep-alive timeout (5 s)
    closes it: reused at the moment the server closes it, a request would be cut off without an answer.
    """
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=KEEPALIVE_SECONDS
    )
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout)


@dataclass(frozen=True)
class Storm:
    responses: list[httpx.Response]
    wall_seconds: float

    def statuses(self) -> Counter[int]:
        return Counter(response.status_code for response in self.responses)


async def fire(requests: Sequence[tuple[httpx.AsyncClient, httpx.Request]]) -> Storm:
    """Send every request at once; the responses come back in the order the requests were given."""
    ready = asyncio.Barrier(len(requests) + 1)
    gun = asyncio.Event()

    async def shoot(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
        await ready.wait()
        await gun.wait()
        return await client.send(request)

    async with asyncio.timeout(STORM_TIMEOUT_SECONDS), asyncio.TaskGroup() as group:
        tasks = [group.create_task(shoot(client, request)) for client, request in requests]
        await ready.wait()
        started = time.perf_counter()
        gun.set()
        responses = list(await asyncio.gather(*tasks))
        wall_seconds = time.perf_counter() - started
    return Storm(responses=responses, wall_seconds=wall_seconds)


async def warm_up(client: httpx.AsyncClient, connections: int) -> None:
    """Open ``connections`` keep-alive connections before a storm, so that its requests leave together."""
    storm = await fire([(client, client.build_request("GET", "/healthz")) for _ in range(connections)])
    assert storm.statuses() == {200: connections}, storm.statuses()


@dataclass(frozen=True)
class Caller:
    """A member of staff pressing call-next: which server, which token, which table size."""

    client: httpx.AsyncClient
    url: str
    headers: Mapping[str, str]
    body: Mapping[str, object] | None = None


async def drain(
    callers: Sequence[Caller], *, max_calls_each: int
) -> tuple[list[list[httpx.Response]], float]:
    """Every caller presses call-next until it gets 204 (or ``max_calls_each`` presses); all start together.

    Returns what each caller was answered, in order, and the wall time of the whole race.
    """
    ready = asyncio.Barrier(len(callers) + 1)
    gun = asyncio.Event()

    async def press(caller: Caller) -> list[httpx.Response]:
        answers: list[httpx.Response] = []
        await ready.wait()
        await gun.wait()
        for _ in range(max_calls_each):
            response = await caller.client.post(caller.url, headers=dict(caller.headers), json=caller.body)
            answers.append(response)
            if response.status_code != 200:
                break
        return answers

    async with asyncio.timeout(STORM_TIMEOUT_SECONDS), asyncio.TaskGroup() as group:
        tasks = [group.create_task(press(caller)) for caller in callers]
        await ready.wait()
        started = time.perf_counter()
        gun.set()
        answered = list(await asyncio.gather(*tasks))
        wall_seconds = time.perf_counter() - started
    return answered, wall_seconds


def assert_each_caller_drained_in_token_order(
    answered: list[list[httpx.Response]],
) -> list[dict[str, object]]:
    """Each caller got 200s then a 204, its tokens rising (lowest waiting first); returns what was called."""
    called: list[dict[str, object]] = []
    for answers in answered:
        statuses = [response.status_code for response in answers]
        assert statuses[-1] == 204, [r.text for r in answers if r.status_code not in (200, 204)][:3]
        assert set(statuses[:-1]) <= {200}
        entries = [response.json() for response in answers[:-1]]
        tokens = [entry["tokenNumber"] for entry in entries]
        assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens), tokens
        called += entries
    assert all(entry["status"] == "called" and entry["calledAt"] is not None for entry in called)
    return called


def field(response: httpx.Response, name: str) -> Any:
    """A field of a JSON object body, or None (for figures, which must not fail on a broken answer)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get(name) if isinstance(body, dict) else None


def backend_of(database_url: str) -> str:
    return database_url.partition(":")[0].partition("+")[0]


def duplicates(values: Iterable[object]) -> int:
    """How many values repeat one seen before."""
    return sum(count - 1 for count in Counter(values).values())


def record_figures(
    test: str, *, database_url: str, requests: int, wall_seconds: float, **figures: Any
) -> None:
    """Append what a storm saw to the figures file: a record for people, never an assertion."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    line = {
        "test": test,
        "backend": backend_of(database_url),
        "requests": requests,
        "wall_seconds": round(wall_seconds, 4),
        "requests_per_second": round(requests / wall_seconds, 1) if wall_seconds > 0 else None,
        **figures,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with FIGURES.open("a", encoding="utf-8") as output:
        output.write(json.dumps(line, default=str) + "\n")


@dataclass(frozen=True)
class StoredEntry:
    id: uuid.UUID
    token_number: int
    status: str
    party_size: int
    called_at: object
    finished_at: object


async def stored_entries(database: Database, restaurant_id: uuid.UUID) -> list[StoredEntry]:
    """The restaurant's rows as the database holds them, by token (read with SQL, not through the API)."""
    statement = text(
        """
        SELECT id, token_number, status, party_size, called_at, finished_at
        FROM queue_entry WHERE restaurant_id = :restaurant_id ORDER BY token_number
        """
    )
    async with database.snapshot() as connection:
        rows = (await connection.execute(statement, {"restaurant_id": str(restaurant_id)})).mappings().all()
    return [
        StoredEntry(
            id=uuid.UUID(str(row["id"])),
            token_number=int(row["token_number"]),
            status=str(row["status"]),
            party_size=int(row["party_size"]),
            called_at=row["called_at"],
            finished_at=row["finished_at"],
        )
        for row in rows
    ]


async def last_token(database: Database, restaurant_id: uuid.UUID) -> int:
    """The restaurant's token counter."""
    statement = text("SELECT last_token FROM token_sequence WHERE restaurant_id = :restaurant_id")
    async with database.snapshot() as connection:
        value = (await connection.execute(statement, {"restaurant_id": str(restaurant_id)})).scalar_one()
    return int(value)
