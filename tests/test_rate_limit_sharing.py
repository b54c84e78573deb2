"""Two server processes on one PostgreSQL database share one rate limit: N instances admit N joins per policy,
not N times that, whether the limits are counted in the database or in Redis (a private ``redis-server``).

The policy is per hour, so that nothing refills while the test runs on a slow machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import Server, StaffRestaurant, join_body
from tests.load import fire, stored_entries, storm_client, warm_up
from tests.redis_server import RedisServer, private_redis
from waitline.store.engine import Database
from waitline.store.redis_limiter import KEY_PREFIX

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

LIMIT = 5
STORM = 20
# Both servers are told to trust the test's own address as a proxy, so X-Forwarded-For picks the client.
ALTERNATING_CLIENT, STORM_CLIENT = "198.51.100.1", "198.51.100.2"


@pytest.fixture
def database_url(pg_database_url: str) -> str:
    """PostgreSQL only: two processes on one SQLite file is not a supported deployment."""
    return pg_database_url


@pytest.fixture(params=["db-store", "redis-store"])
def redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisServer | None]:
    if request.param == "db-store":
        yield None
        return
    yield from private_redis(tmp_path)


async def rate_limit_rows(database: Database) -> list[str]:
    async with database.snapshot() as connection:
        return sorted((await connection.execute(text("SELECT key FROM rate_limit"))).scalars())


async def test_two_servers_admit_the_limit_once_between_them(
    server_factory: Callable[..., Server],
    pg_database_url: str,
    redis: RedisServer | None,
    restaurant: StaffRestaurant,
    database: Database,
) -> None:
    env = {"WAITLINE_RATE_LIMIT_PER_IP": f"{LIMIT}/hour", "WAITLINE_TRUSTED_PROXIES": "127.0.0.1/32"}
    if redis is not None:
        env["WAITLINE_RATE_LIMIT_URL"] = redis.url
    servers = [server_factory(pg_database_url, **env) for _ in range(2)]
    path = f"{restaurant.public}/queue"

    async with storm_client(servers[0].base_url, STORM) as a, storm_client(servers[1].base_url, STORM) as b:
        clients = [a, b]
        # One at a time, alternating between the servers: each admits some, and together no more than LIMIT.
        alternating = [
            (
                await clients[i % 2].post(
                    path, json=join_body(i), headers={"X-Forwarded-For": ALTERNATING_CLIENT}
                )
            ).status_code
            for i in range(2 * LIMIT + 2)
        ]
        # All at once, split across the servers.
        for client in clients:
            await warm_up(client, STORM // 2)
        storm = await fire(
            [
                (
                    clients[i % 2],
                    clients[i % 2].build_request(
                        "POST", path, json=join_body(100 + i), headers={"X-Forwarded-For": STORM_CLIENT}
                    ),
                )
                for i in range(STORM)
            ]
        )

    assert alternating == [201] * LIMIT + [429] * (LIMIT + 2)
    assert storm.statuses() == {201: LIMIT, 429: STORM - LIMIT}, [r.text for r in storm.responses][:3]
    assert len(await stored_entries(database, restaurant.restaurant.id)) == 2 * LIMIT
    counted_under = [f"ip:{ALTERNATING_CLIENT}", f"ip:{STORM_CLIENT}"]
    if redis is None:
        assert await rate_limit_rows(database) == counted_under
    else:
        assert redis.limit_keys() == [KEY_PREFIX + key for key in counted_under]
        assert await rate_limit_rows(database) == []
