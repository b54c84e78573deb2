"""Join rate limits, per client IP and per mobile number per restaurant, through the app.

Every test runs on PostgreSQL and SQLite, with the limits counted in the database (inside the join's own
statement) and in Redis (a private ``redis-server``). The app counts in a fake clock (``create_app(...,
clock=...)``), so the window edge and Retry-After are exact and nothing waits.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.clock import EPOCH, FakeClock, policy
from tests.conftest import StaffRestaurant, join_body, make_restaurant
from tests.load import last_token, stored_entries
from tests.redis_server import RedisServer, private_redis
from waitline.config import Settings
from waitline.ratelimit import JoinLimits, RateLimited
from waitline.services import Services
from waitline.store.engine import Database, open_database
from waitline.web.app import create_app

pytestmark = pytest.mark.anyio

CLIENT = "203.0.113.7"
PROBLEM = "application/problem+json"
RATE_LIMITED = "urn:waitline:problem:rate-limited"
# draft-ietf-httpapi-ratelimit-headers:
# RateLimit-Policy: "name";q=quota;w=window and RateLimit: "name";r=remaining;t=seconds
POLICY_FIELD = re.compile(r'^"(?P<name>[a-z-]+)";q=(?P<quota>\d+);w=(?P<window>\d+)$')
LIMIT_FIELD = re.compile(r'^"(?P<name>[a-z-]+)";r=(?P<remaining>\d+);t=(?P<reset>\d+)$')


def rate_limit_policy(response: httpx.Response) -> tuple[str, int, int]:
    found = POLICY_FIELD.fullmatch(response.headers["RateLimit-Policy"])
    assert found is not None, response.headers["RateLimit-Policy"]
    return found["name"], int(found["quota"]), int(found["window"])


def rate_limit(response: httpx.Response) -> tuple[str, int, int]:
    found = LIMIT_FIELD.fullmatch(response.headers["RateLimit"])
    assert found is not None, response.headers["RateLimit"]
    return found["name"], int(found["remaining"]), int(found["reset"])


# --- an app with limits on, counting in a fake clock --------------------------------------------------------


@pytest.fixture(scope="module")
def module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from private_redis(tmp_path_factory.mktemp("redis"))


@pytest.fixture(params=["db-store", "redis-store"])
def redis(request: pytest.FixtureRequest) -> RedisServer | None:
    """Where the limits are counted: None for the database itself, else this (emptied) Redis."""
    if request.param == "db-store":
        return None
    server: RedisServer = request.getfixturevalue("module_redis")
    server.flush()
    return server


@dataclass
class LimitedApp:
    app: FastAPI
    clock: FakeClock
    database: Database
    redis: RedisServer | None

    async def request(self, method: str, path: str, *, ip: str = CLIENT, **kwargs: object) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False, client=(ip, 50123))
        async with httpx.AsyncClient(transport=transport, base_url="http://waitline.test") as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

    async def join(
        self, restaurant: StaffRestaurant, index: int, *, ip: str = CLIENT, **overrides: object
    ) -> httpx.Response:
        return await self.request(
            "POST", f"{restaurant.public}/queue", ip=ip, json=join_body(index, **overrides)
        )

    async def statuses(self, restaurant: StaffRestaurant, indexes: range, *, ip: str = CLIENT) -> list[int]:
        return [(await self.join(restaurant, i, ip=ip)).status_code for i in indexes]

    async def leave(self, restaurant: StaffRestaurant, joined: httpx.Response) -> None:
        response = await self.request("DELETE", f"{restaurant.public}/queue/{joined.json()['id']}")
        assert response.status_code == 200, response.text

    async def limiter_state(self) -> dict[str, str]:
        """Every key the limits are counted under, with its stored value."""
        if self.redis is not None:
            with self.redis.client() as client:
                return {key: str(client.get(key)) for key in self.redis.limit_keys()}
        async with self.database.snapshot() as connection:
            rows = (await connection.execute(text("SELECT key, tat FROM rate_limit"))).all()
        return {str(row.key): repr(row.tat) for row in rows}


StartApp = Callable[..., Awaitable[LimitedApp]]


@pytest.fixture
async def limited(
    database_url: str, database: Database, redis: RedisServer | None
) -> AsyncIterator[StartApp]:
    async with contextlib.AsyncExitStack() as stack:

        async def start(*, per_ip: str = "off", per_mobile: str = "off", **others: object) -> LimitedApp:
            settings = Settings(
                database_url=database_url,
                rate_limit_per_ip=per_ip,
                rate_limit_per_mobile=per_mobile,
                rate_limit_url=redis.url if redis else None,
                **others,  # type: ignore[arg-type]
            )
            clock = FakeClock()
            app = create_app(settings, clock=clock)
            await stack.enter_async_context(app.router.lifespan_context(app))
            return LimitedApp(app=app, clock=clock, database=database, redis=redis)

        yield start


# --- the burst, the refusal, the headers --------------------------------------------------------------------


async def test_a_burst_is_admitted_then_refused_with_problem_json_and_ratelimit_headers(
    limited: StartApp, restaurant: StaffRestaurant
) -> None:
    app = await limited(per_ip="3/minute")  # a burst of 3, then one back every 20 s

    responses = [await app.join(restaurant, i) for i in range(4)]

    assert [response.status_code for response in responses] == [201, 201, 201, 429]
    assert {rate_limit_policy(response) for response in responses} == {("per-ip", 3, 60)}
    assert [rate_limit(response) for response in responses[:3]] == [
        ("per-ip", 2, 20),
        ("per-ip", 1, 40),
        ("per-ip", 0, 60),
    ]
    refused = responses[3]
    assert refused.headers["content-type"] == PROBLEM
    problem = refused.json()
    assert (problem["type"], problem["status"]) == (RATE_LIMITED, 429)
    assert problem["title"] and problem["detail"]
    assert refused.headers["Retry-After"] == "20"
    assert rate_limit(refused) == ("per-ip", 0, 20)


async def test_retry_after_is_whole_seconds_never_zero_and_exact(
    limited: StartApp, restaurant: StaffRestaurant
) -> None:
    app = await limited(per_ip="3/minute")
    assert await app.statuses(restaurant, range(3)) == [201] * 3

    app.clock.advance(19.999)
    almost = await app.join(restaurant, 3)
    app.clock.advance(0.001)
    allowed = await app.join(restaurant, 4)

    assert almost.status_code == 429
    assert almost.headers["Retry-After"] == "1"  # 1 ms, rounded up: never 0, never a fraction
    assert allowed.status_code == 201


async def test_each_client_ip_has_its_own_allowance(limited: StartApp, restaurant: StaffRestaurant) -> None:
    app = await limited(per_ip="2/hour")

    assert await app.statuses(restaurant, range(0, 3), ip="198.51.100.1") == [201, 201, 429]
    assert await app.statuses(restaurant, range(3, 6), ip="198.51.100.2") == [201, 201, 429]
    assert await app.statuses(restaurant, range(6, 7), ip="2001:db8::1") == [201]


async def test_the_addresses_of_one_ipv6_64_share_one_allowance(
    limited: StartApp, restaurant: StaffRestaurant
) -> None:
    """A subscriber is handed a whole /64 and may take a new address from it for every request."""
    app = await limited(per_ip="2/hour")
    same_64 = ["2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:2:a::7"]

    shared = [(await app.join(restaurant, i, ip=ip)).status_code for i, ip in enumerate(same_64)]
    next_64 = await app.statuses(restaurant, range(3, 5), ip="2001:db8:1:3::1")

    assert shared == [201, 201, 429]
    assert next_64 == [201, 201]


async def test_the_ipv6_prefix_the_limits_count_by_is_configurable(
    limited: StartApp, restaurant: StaffRestaurant
) -> None:
    app = await limited(per_ip="2/hour", rate_limit_ipv6_prefix=48)
    same_48 = ["2001:db8:1:2::1", "2001:db8:1:3::1", "2001:db8:1:ffff::1"]

    shared = [(await app.join(restaurant, i, ip=ip)).status_code for i, ip in enumerate(same_48)]

    assert shared == [201, 201, 429]
    assert await app.statuses(restaurant, range(3, 4), ip="2001:db8:2::1") == [201]


async def test_ipv4_mapped_addresses_are_counted_as_the_ipv4_address_they_are(
    limited: StartApp, restaurant: StaffRestaurant
) -> None:
    """A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d: all of those are in one IPv6 /64, yet
    each is its own IPv4 client."""
    app = await limited(per_ip="2/hour")

    one_client = [
        (await app.join(restaurant, i, ip=ip)).status_code
        for i, ip in enumerate(["::ffff:198.51.100.1", "198.51.100.1", "::ffff:198.51.100.1"])
    ]
    others = [
        (await app.join(restaurant, 3 + i, ip=f"::ffff:198.51.100.{2 + i}")).status_code for i in range(3)
    ]

    assert one_client == [201, 201, 429]
    assert others == [201, 201, 201]


async def test_a_refused_join_writes_nothing(
    limited: StartApp, restaurant: StaffRestaurant, database: Database
) -> None:
    app = await limited(per_ip="2/minute")
    assert await app.statuses(restaurant, range(2)) == [201, 201]
    entries, counter, limiter = (
        len(await stored_entries(database, restaurant.restaurant.id)),
        await last_token(database, restaurant.restaurant.id),
        await app.limiter_state(),
    )

    refused = await app.join(restaurant, 2, idempotencyKey="refused-once")

    assert refused.status_code == 429
    assert len(await stored_entries(database, restaurant.restaurant.id)) == entries == 2
    assert await last_token(database, restaurant.restaurant.id) == counter == 2
    assert await app.limiter_state() == limiter
    # Its key was not kept either: sent again once allowed, it is a new join, and takes the next token.
    app.clock.advance(float(refused.headers["Retry-After"]))
    again = await app.join(restaurant, 2, idempotencyKey="refused-once")
    assert again.status_code == 201
    assert again.json()["tokenNumber"] == 3


async def test_at_the_window_edge_only_what_refilled_gets_through(
    limited: StartApp, restaurant: StaffRestaurant
) -> None:
    """A fixed one-minute window would let 2N through around a minute boundary; GCRA lets N, plus what has
    refilled since (N per minute, evenly)."""
    n = 20
    app = await limited(per_ip=f"{n}/minute")  # one back every 3 s
    app.clock.set(EPOCH + 58)  # two seconds before a minute boundary
    before = await app.statuses(restaurant, range(0, n))
    app.clock.set(EPOCH + 64.5)  # in the next minute, 6.5 s later
    after = await app.statuses(restaurant, range(n, 2 * n))

    refilled = math.floor(6.5 / (60 / n))
    assert refilled == 2
    assert before == [201] * n
    assert after == [201] * refilled + [429] * (n - refilled)
    assert len(await stored_entries(app.database, restaurant.restaurant.id)) == n + refilled


# --- replays ------------------------------------------------------------------------------------------------


async def test_replays_are_never_counted(limited: StartApp, restaurant: StaffRestaurant) -> None:
    app = await limited(per_ip="3/minute")
    path, key = f"{restaurant.public}/queue", "join-once"

    first = await app.request("POST", path, json=join_body(0, idempotencyKey=key))
    # The key in the body, then in the header: the same request either way.
    replays = [await app.request("POST", path, json=join_body(0, idempotencyKey=key)) for _ in range(5)] + [
        await app.request("POST", path, json=join_body(0), headers={"Idempotency-Key": key}) for _ in range(5)
    ]

    assert first.status_code == 201
    assert {(replay.status_code, replay.headers["Idempotent-Replayed"]) for replay in replays} == {
        (200, "true")
    }
    assert all(replay.json() == first.json() for replay in replays)
    # One join counted, not eleven: two more new joins are allowed, then no more.
    assert await app.statuses(restaurant, range(1, 4)) == [201, 201, 429]


async def test_a_replay_while_the_limit_is_spent_still_returns_the_original_entry(
    limited: StartApp, restaurant: StaffRestaurant
) -> None:
    app = await limited(per_ip="2/minute", per_mobile="1/hour")
    firsts = [await app.join(restaurant, i, idempotencyKey=f"k-{i}") for i in range(2)]
    assert [first.status_code for first in firsts] == [201, 201]
    assert (await app.join(restaurant, 2, idempotencyKey="k-2")).status_code == 429

    replays = [await app.join(restaurant, i, idempotencyKey=f"k-{i}") for i in range(2)]

    assert [replay.status_code for replay in replays] == [200, 200]
    assert [replay.json() for replay in replays] == [first.json() for first in firsts]
    assert (await app.join(restaurant, 3)).status_code == 429


# --- per mobile number --------------------------------------------------------------------------------------


async def test_a_mobile_number_may_join_a_restaurant_only_so_often(
    limited: StartApp, restaurant: StaffRestaurant, database: Database
) -> None:
    app = await limited(per_mobile="2/hour")  # one back every 30 minutes
    marios = await make_restaurant(database, "marios")
    mobile = {"mobileNumber": "+14155550123"}

    for i in range(2):
        joined = await app.join(restaurant, i, **mobile)
        assert joined.status_code == 201
        assert rate_limit_policy(joined) == ("per-mobile", 2, 3600)
        await app.leave(restaurant, joined)
    third = await app.join(restaurant, 2, **mobile)

    assert third.status_code == 429
    assert third.json()["type"] == RATE_LIMITED
    assert rate_limit_policy(third) == ("per-mobile", 2, 3600)
    assert third.headers["Retry-After"] == "1800"
    # The same number is not limited at another restaurant, nor another number here.
    assert (await app.join(marios, 3, **mobile)).status_code == 201
    assert (await app.join(restaurant, 4, mobileNumber="+14155550124")).status_code == 201
    # The limiter's store holds no phone number, in any form.
    state = await app.limiter_state()
    assert len(state) == 3
    assert not any("4155550123" in key or "4155550124" in key for key in state)


async def test_a_join_refused_by_one_limit_is_counted_by_none(
    limited: StartApp, restaurant: StaffRestaurant
) -> None:
    app = await limited(per_ip="3/minute", per_mobile="1/hour")
    mobile = {"mobileNumber": "+14155550123"}
    first = await app.join(restaurant, 0, **mobile)
    assert first.status_code == 201
    await app.leave(restaurant, first)

    refused = [await app.join(restaurant, 1, **mobile) for _ in range(3)]

    assert {response.status_code for response in refused} == {429}
    assert {rate_limit_policy(response)[0] for response in refused} == {"per-mobile"}
    assert {response.headers["Retry-After"] for response in refused} == {"3600"}
    # The per-IP allowance lost only the one join that was made: 2 of 3 are left.
    assert await app.statuses(restaurant, range(2, 5)) == [201, 201, 429]


async def test_a_join_refused_for_another_reason_is_not_counted(
    limited: StartApp, restaurant: StaffRestaurant
) -> None:
    app = await limited(per_ip="2/minute")
    assert (await app.join(restaurant, 0)).status_code == 201
    already = [await app.join(restaurant, 0, idempotencyKey=f"other-{i}") for i in range(3)]
    pause = await app.request("POST", f"{restaurant.admin}/queue/pause", headers=restaurant.headers)
    closed = [await app.join(restaurant, 1) for _ in range(3)]
    resume = await app.request("POST", f"{restaurant.admin}/queue/resume", headers=restaurant.headers)

    assert {response.status_code for response in already + closed} == {409}
    assert (pause.status_code, resume.status_code) == (200, 200)
    assert await app.statuses(restaurant, range(1, 3)) == [201, 429]


# --- the sweep of spent-out rows (database store) -----------------------------------------------------------


async def test_the_sweep_deletes_only_rows_whose_allowance_is_whole_again(
    database: Database, restaurant: StaffRestaurant
) -> None:
    clock = FakeClock()
    limits = JoinLimits(per_ip=policy("1/minute", "per-ip"), per_mobile=None, shared=None, clock=clock)

    async def join(ip: str, index: int) -> None:
        await Services(database=database, limits=limits).queue.join(
            slug=restaurant.restaurant.slug,
            name="Ada",
            mobile=f"+1415555{index:04d}",
            party_size=2,
            idempotency_key=None,
            client_ip=ip,
        )

    async def rows() -> dict[str, float]:
        async with database.snapshot() as connection:
            found = (await connection.execute(text("SELECT key, tat FROM rate_limit"))).all()
        return {str(row.key): float(row.tat) for row in found}

    await join("192.0.2.1", 0)  # allowance whole again at EPOCH + 60
    clock.advance(100)
    await join("192.0.2.2", 1)  # at EPOCH + 160
    assert await rows() == {"ip:192.0.2.1": EPOCH + 60, "ip:192.0.2.2": EPOCH + 160}

    deleted = await Services(database=database).queue.sweep_rate_limits(now=EPOCH + 120)

    assert deleted == 1
    assert await rows() == {"ip:192.0.2.2": EPOCH + 160}
    # What was swept meant nothing; what was kept still counts.
    clock.set(EPOCH + 120)
    await join("192.0.2.1", 2)
    with pytest.raises(RateLimited):
        await join("192.0.2.2", 3)
    assert await Services(database=database).queue.sweep_rate_limits(now=EPOCH + 120) == 0


async def test_the_sweep_passes_over_a_row_a_join_is_counting_right_now(pg_database_url: str) -> None:
    """A join holding a rate-limit row must find it still there when it writes it back (PostgreSQL)."""
    settings = Settings(database_url=pg_database_url)
    database = open_database(settings)
    counting = open_database(settings)
    try:
        async with database.transaction() as connection:
            await connection.execute(text("INSERT INTO rate_limit (key, tat) VALUES ('ip:held', 1.0)"))
        async with counting.engine.begin() as join:
            hit = await join.execute(
                text("SELECT * FROM waitline_hit_limits(:now, ARRAY['ip:held'], ARRAY[6.0], ARRAY[54.0])"),
                {"now": EPOCH},
            )
            assert hit.one().allowed
            # The join's transaction is still open and holds the row: the sweep must neither wait nor delete.
            assert await Services(database=database).queue.sweep_rate_limits(now=EPOCH + 3600) == 0
        async with database.snapshot() as connection:
            stored = await connection.execute(text("SELECT tat FROM rate_limit WHERE key = 'ip:held'"))
            assert stored.scalar_one() == EPOCH + 6.0
    finally:
        await counting.dispose()
        await database.dispose()
