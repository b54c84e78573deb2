"""The join, call-next and a guest's status run on PostgreSQL as one asyncpg statement each, prepared once
per connection (store/driver.py); their answers and errors are the same as through SQLAlchemy."""

from __future__ import annotations

from collections import Counter
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import CLIENT_IP, StaffRestaurant, join_body
from waitline.config import Settings
from waitline.services import Services
from waitline.store.engine import Database
from waitline.store.statement import Statement

pytestmark = pytest.mark.anyio


def test_a_statement_is_numbered_for_asyncpg_in_the_order_of_its_parameters() -> None:
    statement = Statement("SELECT f(:b, CAST(:a AS uuid), :b, x::text, :a_2) WHERE {now} > :a")
    assert statement.positional == (
        "SELECT f($1, CAST($2 AS uuid), $1, x::text, $3) WHERE now() > $2",
        ("b", "a", "a_2"),
    )
    assert Statement("SELECT :x IN :xs", "xs").positional is None  # lists: SQLAlchemy expands them


@pytest.fixture
def settings(database_url: str) -> Settings:
    """One connection, so that every statement below runs on the same session."""
    return Settings(
        database_url=database_url, pool_size=1, rate_limit_per_ip="off", rate_limit_per_mobile="off"
    )


@pytest.fixture
def fetchrows(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The statements asyncpg's own fetchrow ran (SQLAlchemy's adapter prepares and fetches otherwise)."""
    seen: Counter[str] = Counter()
    original = asyncpg.Connection.fetchrow

    async def counting(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        kinds = {"waitline_join(": "waitline_join", "waitline_call_next(": "waitline_call_next"}
        kinds |= {"JOIN restaurant r": "status", "FROM api_token": "token"}
        seen[next((kind for marker, kind in kinds.items() if marker in query), "other")] += 1
        return await original(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "fetchrow", counting)
    return seen


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_join_status_and_call_next_go_to_asyncpg_itself(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database, fetchrows: Counter[str]
) -> None:
    entries = []
    for index in range(3):
        response = await client.post(f"{restaurant.public}/queue", json=join_body(index))
        assert response.status_code == 201
        entries.append(response.json())
    for entry in entries:
        response = await client.get(f"{restaurant.public}/queue/{entry['id']}")
        assert response.status_code == 200 and response.json()["status"] == "waiting"
    response = await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
    assert response.status_code == 200 and response.json()["id"] == entries[0]["id"]

    assert fetchrows["waitline_join"] == 3
    assert fetchrows["waitline_call_next"] == 1
    assert fetchrows["status"] == 3
    assert fetchrows["token"] == 0  # the staff token's check is in call-next's own statement


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_the_join_is_prepared_once_on_its_connection(database: Database) -> None:
    services = Services(database=database)
    await services.restaurants.create(slug="luigis", name="Luigi's", default_region="GB")
    for index in range(3):
        await services.queue.join(
            client_ip=CLIENT_IP,
            slug="luigis",
            name="Ada",
            mobile=f"+1415555010{index}",
            party_size=2,
            idempotency_key=None,
        )
    async with database.snapshot() as connection:  # the pool's one connection
        raw = await connection.get_raw_connection()
        prepared = await raw.driver_connection.fetch(  # type: ignore[union-attr]
            r"SELECT statement FROM pg_prepared_statements WHERE statement ~ 'waitline_join\(\s*\$1,'"
        )
    assert len(prepared) == 1


async def test_a_join_through_asyncpg_answers_as_through_sqlalchemy(database: Database) -> None:
    services = Services(database=database)
    await services.restaurants.create(slug="luigis", name="Luigi's", default_region="GB")
    first = await services.queue.join(
        client_ip=CLIENT_IP,
        slug="luigis",
        name="Ada",
        mobile="07400 123456",
        party_size=2,
        idempotency_key="k",
    )
    replay = await services.queue.join(
        client_ip=CLIENT_IP,
        slug="luigis",
        name="Ada",
        mobile="07400 123456",
        party_size=2,
        idempotency_key="k",
    )
    assert first.created and not replay.created
    assert replay.entry == first.entry
    assert first.entry.position == 1 and first.entry.token_number == 1
