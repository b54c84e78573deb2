"""A burst that finds every database connection busy waits a bounded time for one, then gets 503.

The server has one connection and no overflow. The test holds the restaurant's token counter row lock, so
one join sits on that connection inside PostgreSQL; every other request that needs the database must then
give up after the pool timeout (0.5 s) with a 503 problem, while that connection is still taken, rather than
queue behind it. The transaction timeout is raised to 30 s so that only the pool timeout can end the wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Server, StaffRestaurant, join_body
from tests.counter_lock import CounterLock
from tests.load import stored_entries
from waitline.store.engine import Database
from waitline.web.problems import MEDIA_TYPE

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ONE_CONNECTION = {
    "WAITLINE_POOL_SIZE": "1",
    "WAITLINE_POOL_MAX_OVERFLOW": "0",
    "WAITLINE_POOL_TIMEOUT_SECONDS": "0.5",
    "WAITLINE_TRANSACTION_TIMEOUT_SECONDS": "30",
}
BURST = 8
# How long the burst may take while the lock is held: far beyond the 0.5 s pool timeout, far inside the
# 30 s transaction timeout. Past it, the requests are queued behind the busy connection.
BURST_BOUND_SECONDS = 15.0
WAIT_SECONDS = 10.0


@pytest.fixture
def database_url(pg_database_url: str) -> str:
    """PostgreSQL only: the busy connection is a join waiting on a row lock."""
    return pg_database_url


@pytest.fixture
def one_connection_server(server_factory: Callable[..., Server], database_url: str) -> Server:
    return server_factory(database_url, **ONE_CONNECTION)


def gauge(metrics_text: str, name: str) -> float:
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"{name} is not in /metrics")


def assert_unavailable_problem(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(MEDIA_TYPE)
    assert response.headers["retry-after"].isdigit()
    body = response.json()
    assert body["status"] == 503
    assert body["type"] == "urn:waitline:problem:service-unavailable"


async def test_with_the_only_connection_busy_a_burst_gets_503_after_a_bounded_wait_and_then_recovers(
    one_connection_server: Server, database: Database, restaurant: StaffRestaurant, database_url: str
) -> None:
    limits = httpx.Limits(max_connections=BURST + 8)
    async with httpx.AsyncClient(
        base_url=one_connection_server.base_url, limits=limits, timeout=30
    ) as client:
        async with CounterLock(database_url, restaurant.restaurant.id) as lock:
            first = asyncio.create_task(client.post(f"{restaurant.public}/queue", json=join_body(0)))
            await lock.until_waiting(1)

            async with asyncio.timeout(BURST_BOUND_SECONDS):
                burst = await asyncio.gather(
                    *(
                        client.post(
                            f"{restaurant.public}/queue", json=join_body(i, idempotencyKey=f"burst-{i}")
                        )
                        for i in range(1, BURST + 1)
                    ),
                    client.get(restaurant.public),
                    client.get(f"{restaurant.admin}/queue", headers=restaurant.headers),
                    client.get("/readyz"),
                )
            healthz = await client.get("/healthz")
            busy_metrics = (await client.get("/metrics")).text
            # All of that came back while the only connection was still taken by the first join.
            assert not first.done()
            await lock.release()
            async with asyncio.timeout(WAIT_SECONDS):
                first_response = await first

        afterwards = [
            await client.post(f"{restaurant.public}/queue", json=join_body(i)) for i in range(100, 104)
        ]
        ready = await client.get("/readyz")
        idle_metrics = (await client.get("/metrics")).text
        replays = [
            await client.post(f"{restaurant.public}/queue", json=join_body(i, idempotencyKey=f"burst-{i}"))
            for i in (1, 2)
        ]

    for response in burst:
        assert_unavailable_problem(response)
    assert healthz.status_code == 200
    assert gauge(busy_metrics, "waitline_db_pool_size") == 1
    assert gauge(busy_metrics, "waitline_db_pool_connections_in_use") == 1

    assert first_response.status_code == 201, first_response.text
    assert first_response.json()["tokenNumber"] == 1
    assert [response.status_code for response in afterwards] == [201] * 4
    assert [response.json()["tokenNumber"] for response in afterwards] == [2, 3, 4, 5]
    assert ready.status_code == 200
    assert gauge(idle_metrics, "waitline_db_pool_connections_in_use") == 0
    # The joins turned away were never written: their keys make new entries now.
    assert [response.status_code for response in replays] == [201, 201]
    stored = await stored_entries(database, restaurant.restaurant.id)
    assert [entry.token_number for entry in stored] == [1, 2, 3, 4, 5, 6, 7]
