"""waitline through PgBouncer 1.18 in transaction mode (deploy/pgbouncer/pgbouncer.ini), PostgreSQL only.

PgBouncer lends a server connection for one transaction, and 1.18 tracks no prepared statements. Left as
they are for a direct connection, waitline's connections would fail at once (PgBouncer refuses the startup
parameters that carry synchronous_commit and the timeouts) and, without those, asyncpg's named prepared
statements would be looked for on server connections that never saw them. With
``WAITLINE_DATABASE_POOLER=pgbouncer`` every guarantee holds through it: the storms below run many
transactions at once over PgBouncer's shared server connections.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from pydantic import ValidationError

from tests import postgres
from tests.conftest import Server, StaffRestaurant, join_body
from tests.pgbouncer import PgBouncer, running_pgbouncer
from tests.test_live_updates import open_stream
from tests.test_two_servers import call_next_race_across, join_storm_split_across
from waitline.config import Settings
from waitline.store.engine import Database, open_database

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture(scope="module")
def pgbouncer(postgres_admin_url: str) -> Iterator[PgBouncer]:
    with running_pgbouncer(postgres_admin_url) as bouncer:
        yield bouncer


@pytest.fixture
def database_url(pg_database_url: str) -> str:
    """PostgreSQL only; the test's own checks read the database directly."""
    return pg_database_url


def through(pgbouncer: PgBouncer, direct_url: str) -> dict[str, str]:
    """A server's environment for the database at ``direct_url``, reached through PgBouncer."""
    return {
        "WAITLINE_DATABASE_URL": pgbouncer.url(direct_url),
        "WAITLINE_DATABASE_POOLER": "pgbouncer",
        "WAITLINE_LISTEN_DATABASE_URL": direct_url,
    }


@pytest.fixture
def pooled_server(
    server_factory: Callable[..., Server], pgbouncer: PgBouncer, pg_database_url: str
) -> Callable[..., Server]:
    def start(**env: str) -> Server:
        environment = {**through(pgbouncer, pg_database_url), **env}
        return server_factory(pgbouncer.url(pg_database_url), **environment)

    return start


async def test_a_join_storm_through_pgbouncer_gets_tokens_one_to_n(
    pooled_server: Callable[..., Server], database: Database, restaurant: StaffRestaurant, database_url: str
) -> None:
    # Two processes, each with more connections than PgBouncer has server connections to share out.
    servers = (pooled_server(), pooled_server())
    await join_storm_split_across(servers, database, restaurant, database_url, "join-storm-through-pgbouncer")
    for server in servers:
        assert "prepared statement" not in server.output()


async def test_call_next_racing_through_pgbouncer_calls_every_entry_exactly_once(
    pooled_server: Callable[..., Server], database: Database, restaurant: StaffRestaurant, database_url: str
) -> None:
    servers = (pooled_server(), pooled_server())
    figures = "call-next-race-through-pgbouncer"
    await call_next_race_across(servers, database, restaurant, database_url, figures)


async def test_writes_through_pgbouncer_commit_synchronously_even_where_the_database_default_is_off(
    pgbouncer: PgBouncer, postgres_admin_url: str, pg_database_url: str
) -> None:
    name = pg_database_url.rpartition("/")[2]
    await postgres.execute(postgres_admin_url, f"ALTER DATABASE {name} SET synchronous_commit = off")
    database = open_database(Settings(**settings_through(pgbouncer, pg_database_url)))
    try:
        async with database.snapshot() as connection:
            database_default = (await connection.exec_driver_sql("SHOW synchronous_commit")).scalar_one()
        async with database.single_statement() as connection:
            for_joins = (await connection.exec_driver_sql("SHOW synchronous_commit")).scalar_one()
            timeout = (await connection.exec_driver_sql("SHOW statement_timeout")).scalar_one()
        async with database.transaction() as connection:
            for_transactions = (await connection.exec_driver_sql("SHOW synchronous_commit")).scalar_one()
        # Set for the transaction only: the server connection goes back to the pool as it came.
        async with database.snapshot() as connection:
            afterwards = (await connection.exec_driver_sql("SHOW synchronous_commit")).scalar_one()
    finally:
        await database.dispose()

    assert database_default == "off"  # so "on" below is waitline's doing, through the pooler
    assert (for_joins, for_transactions, timeout) == ("on", "on", "5s")
    assert afterwards == "off"


def settings_through(pgbouncer: PgBouncer, direct_url: str) -> dict[str, str]:
    return {
        "database_url": pgbouncer.url(direct_url),
        "database_pooler": "pgbouncer",
        "listen_database_url": direct_url,
    }


async def test_live_pages_through_pgbouncer_follow_changes_by_the_direct_listen_connection(
    pooled_server: Callable[..., Server], restaurant: StaffRestaurant
) -> None:
    # A long refresh: within the test's patience only a NOTIFY can bring the update.
    server = pooled_server(WAITLINE_LIVE_REFRESH_SECONDS="600")
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        entry = (await client.post(f"{restaurant.public}/queue", json=join_body(1))).json()

        async with open_stream(f"{server.base_url}/luigis/e/{entry['id']}/live") as events:
            await events.update_containing('data-status="waiting"')
            called = await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
            assert called.status_code == 200
            await events.update_containing('data-status="called"')


def test_pgbouncer_without_a_direct_listen_url_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="WAITLINE_LISTEN_DATABASE_URL"):
        Settings(database_url="postgresql://waitline@127.0.0.1:6432/waitline", database_pooler="pgbouncer")
