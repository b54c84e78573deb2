"""The hot statements (the join, call-next and its staff token, a guest's status) on PostgreSQL straight
through asyncpg.

SQLAlchemy Core costs more CPU per statement than the rest of a join's Python (compiling the parameters,
its cursor adapter, result processing). On a direct connection in autocommit (``Database.single_statement``
and ``Database.snapshot``), these statements go to asyncpg's own ``fetchrow`` instead: asyncpg prepares
each text once per connection (its statement cache) and reuses it. The connection is still the pool's,
checked out and returned by SQLAlchemy. Inside a transaction (behind PgBouncer, or SQLite) the same
statement runs through SQLAlchemy as before: PgBouncer's transaction mode keeps no prepared statement.

asyncpg's errors are turned into SQLAlchemy's, so that constraint names, SQLSTATEs and connection failures
mean what they mean everywhere else (store/constraints.py, store/engine.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import asyncpg
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.store.statement import Statement

_AUTOCOMMIT = "AUTOCOMMIT"


async def fetch_row(
    connection: AsyncConnection, statement: Statement, params: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """The statement's first row (or None), by asyncpg directly where it can, else through SQLAlchemy."""
    rows = await _fetch(connection, statement, params, first_only=True)
    return rows[0] if rows else None


async def fetch_rows(
    connection: AsyncConnection, statement: Statement, params: Mapping[str, Any]
) -> list[Mapping[str, Any]]:
    """All the statement's rows, by asyncpg directly where it can, else through SQLAlchemy."""
    return await _fetch(connection, statement, params, first_only=False)


async def _fetch(
    connection: AsyncConnection, statement: Statement, params: Mapping[str, Any], *, first_only: bool
) -> list[Mapping[str, Any]]:
    positional = statement.positional
    sync = connection.sync_connection
    if (
        positional is None
        or sync is None
        or connection.dialect.name != "postgresql"
        or sync.get_execution_options().get("isolation_level") != _AUTOCOMMIT
    ):
        result = (await connection.execute(statement.on(connection), params)).mappings()
        if first_only:
            first = result.first()
            return [] if first is None else [cast(Mapping[str, Any], first)]
        return [cast(Mapping[str, Any], row) for row in result.all()]
    sql, names = positional
    raw = await connection.get_raw_connection()
    driver = cast(asyncpg.Connection, raw.driver_connection)
    values = [params[name] for name in names]
    try:
        if first_only:
            row = await driver.fetchrow(sql, *values)
            rows = [] if row is None else [row]
        else:
            rows = await driver.fetch(sql, *values)
    except asyncpg.IntegrityConstraintViolationError as error:
        raise IntegrityError(sql, None, error) from error
    except asyncpg.PostgresError as error:
        raise DBAPIError(sql, None, error) from error
    except (asyncpg.InterfaceError, asyncpg.InternalClientError, OSError) as error:
        # The connection is gone or unusable (closed under us, or left mid-exchange by a server that went
        # away: "another operation is in progress"): the pool must not hand it out again.
        await connection.invalidate(error)
        raise DBAPIError(sql, None, error, connection_invalidated=True) from error
    return cast(list[Mapping[str, Any]], rows)
