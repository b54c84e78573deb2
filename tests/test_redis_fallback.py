"""When the shared rate-limit store (Redis) fails: joins go on, limited by each process on its own, the
operator is told once (a log event and a gauge), and the shared store is used again as soon as it answers.

The Redis here is a private ``redis-server`` started and killed by the test, never the machine's own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import httpx
import pytest

from tests.clock import FakeClock
from tests.conftest import Server, StaffRestaurant, join_body
from tests.redis_server import RedisServer
from tests.server_logs import count_events, metric
from waitline.ratelimit import (
    Decision,
    InProcessLimiter,
    LimitCheck,
    LimiterUnavailable,
    RatePolicy,
    ResilientLimiter,
)
from waitline.store.redis_limiter import KEY_PREFIX

pytestmark = pytest.mark.anyio

STARTUP_SECONDS = 10.0


FALLBACK_GAUGE = "waitline_rate_limiter_fallback_active"


# --- the fallback, in one process ---------------------------------------------------------------------------


class FlakyStore:
    """A shared store that fails while ``down`` is set, and counts how often it was asked."""

    def __init__(self, clock: FakeClock) -> None:
        self.limiter = InProcessLimiter(clock=clock)
        self.down = False
        self.asked = 0

    async def check(self, checks: Sequence[LimitCheck]) -> list[Decision]:
        self.asked += 1
        if self.down:
            raise LimiterUnavailable("down")
        return self.limiter.check(checks)

    async def refund(self, checks: Sequence[LimitCheck]) -> None:
        if self.down:
            raise LimiterUnavailable("down")

    async def close(self) -> None:
        pass


async def test_the_fallback_is_announced_once_retried_sparingly_and_left_when_the_store_answers() -> None:
    clock, monotonic = FakeClock(), FakeClock(0.0)
    store = FlakyStore(clock)
    changes: list[bool] = []
    limiter = ResilientLimiter(
        store,
        fallback=InProcessLimiter(clock=clock),
        on_fallback_change=changes.append,
        clock=monotonic,
        retry_seconds=1.0,
    )
    two = RatePolicy(limit=2, period_seconds=3600, name="per-ip")
    check = [LimitCheck("ip:192.0.2.1", two)]

    assert (await limiter.check(check))[0].allowed
    store.down = True
    during = [(await limiter.check(check))[0].allowed for _ in range(4)]
    asked_while_waiting = store.asked
    monotonic.advance(1.0)
    assert not (await limiter.check(check))[0].allowed  # the store is tried again, still down

    # The fallback starts with a whole allowance of its own, and limits.
    assert during == [True, True, False, False]
    assert asked_while_waiting == 2  # the failed call only; not once per request while falling back
    assert store.asked == 3
    assert changes == [True]
    assert limiter.falling_back

    store.down = False
    assert not (await limiter.check(check))[0].allowed  # less than a second since the last try: fallback
    monotonic.advance(1.0)
    # The store again: it counted one request of this key, so one is left (the fallback has none).
    assert (await limiter.check(check))[0].allowed
    assert not (await limiter.check(check))[0].allowed

    assert changes == [True, False]
    assert not limiter.falling_back
    assert store.asked == 5


# --- the fallback, in a real server with a real Redis that dies ---------------------------------------------

PER_IP = 3
BURST_THEN_REFUSED = [201] * PER_IP + [429]


@pytest.fixture
def database_url(pg_database_url: str) -> str:
    """PostgreSQL only: what is under test is the limiter's store, not the database."""
    return pg_database_url


async def join_statuses(client: httpx.AsyncClient, restaurant: StaffRestaurant, indexes: range) -> list[int]:
    return [(await client.post(f"{restaurant.public}/queue", json=join_body(i))).status_code for i in indexes]


async def wait_until_recovered(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, first: int
) -> list[int]:
    """Join now and then until the gauge says the shared store is used again (bounded); the statuses seen."""
    statuses: list[int] = []
    deadline = time.monotonic() + 15
    while await metric(client, FALLBACK_GAUGE) != 0:
        assert time.monotonic() < deadline, f"still falling back; joins answered {statuses}"
        await asyncio.sleep(0.25)
        statuses += await join_statuses(
            client, restaurant, range(first + len(statuses), first + len(statuses) + 1)
        )
    return statuses


async def test_redis_down_means_per_process_limits_then_back_to_redis(
    server_factory: Callable[..., Server],
    pg_database_url: str,
    redis_server: RedisServer,
    restaurant: StaffRestaurant,
) -> None:
    server = server_factory(
        pg_database_url, WAITLINE_RATE_LIMIT_PER_IP=f"{PER_IP}/hour", WAITLINE_RATE_LIMIT_URL=redis_server.url
    )
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        # Counted in Redis.
        assert await join_statuses(client, restaurant, range(0, 4)) == BURST_THEN_REFUSED
        assert redis_server.limit_keys() == [f"{KEY_PREFIX}ip:127.0.0.1"]
        assert await metric(client, FALLBACK_GAUGE) == 0

        redis_server.kill()
        # Joins go on, limited by this process alone: a fresh allowance of its own, then 429.
        assert await join_statuses(client, restaurant, range(10, 14)) == BURST_THEN_REFUSED
        assert await metric(client, FALLBACK_GAUGE) == 1
        # Redis is tried again (at most once a second) and still fails: said once, not once per try.
        for i in range(2):
            await asyncio.sleep(1.2)
            assert await join_statuses(client, restaurant, range(20 + i, 21 + i)) == [429]
        assert await metric(client, FALLBACK_GAUGE) == 1
        assert count_events(server, "rate_limiter.fallback") == 1
        assert count_events(server, "rate_limiter.recovered") == 0

        redis_server.start()  # the same port, and empty: it kept nothing
        statuses = await wait_until_recovered(client, restaurant, 30)

        # The join that found Redis again was counted there, from a fresh allowance.
        assert statuses[-1] == 201 and set(statuses[:-1]) <= {429}, statuses
        assert redis_server.limit_keys() == [f"{KEY_PREFIX}ip:127.0.0.1"]
        assert await join_statuses(client, restaurant, range(60, 63)) == [201] * (PER_IP - 1) + [429]
        assert count_events(server, "rate_limiter.recovered") == 1
        assert count_events(server, "rate_limiter.fallback") == 1


async def test_a_redis_that_stops_answering_is_treated_as_down(
    server_factory: Callable[..., Server],
    pg_database_url: str,
    redis_server: RedisServer,
    restaurant: StaffRestaurant,
) -> None:
    # Roomy enough that no join here is refused: a check that timed out may still be run by Redis when it
    # wakes up (it was in its socket buffer), so how many Redis counted in the pause is not known exactly.
    roomy = 10
    server = server_factory(
        pg_database_url, WAITLINE_RATE_LIMIT_PER_IP=f"{roomy}/hour", WAITLINE_RATE_LIMIT_URL=redis_server.url
    )
    key = f"{KEY_PREFIX}ip:127.0.0.1"

    def stored_tat() -> float:
        with redis_server.client() as redis_client:
            value = redis_client.get(key)
        assert value is not None
        return float(value)

    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        assert await join_statuses(client, restaurant, range(0, 1)) == [201]

        redis_server.pause()
        try:
            # The Redis call times out; joins are answered all the same, by this process's own limiter.
            assert await join_statuses(client, restaurant, range(10, 12)) == [201, 201]
            assert await metric(client, FALLBACK_GAUGE) == 1
            await asyncio.sleep(1.2)
            assert await join_statuses(client, restaurant, range(20, 21)) == [201]  # Redis tried again
        finally:
            redis_server.resume()
        statuses = await wait_until_recovered(client, restaurant, 30)
        assert set(statuses) == {201}, statuses

        # Counted in Redis again: one join moves its stored TAT on by one emission interval (an hour / 10).
        before = stored_tat()
        assert await join_statuses(client, restaurant, range(60, 61)) == [201]
        assert stored_tat() - before == pytest.approx(3600 / roomy, abs=1e-3)
        assert count_events(server, "rate_limiter.fallback") == 1
        assert count_events(server, "rate_limiter.recovered") == 1
