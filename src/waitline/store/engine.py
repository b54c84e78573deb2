"""The database handle: one engine per app, one transaction per use case.

PostgreSQL runs READ COMMITTED with a server-side statement timeout. SQLite runs in WAL mode with a busy
timeout, and every writing transaction starts with ``BEGIN IMMEDIATE`` so that it holds the write lock from
its first statement: that is what serialises joins and claims there, as the row locks do on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from waitline.config import Settings
from waitline.domain import ServiceUnavailable, UnstorableInput
from waitline.store import sqlite_functions
from waitline.store.sqlite_writer import FLOCK_AVAILABLE, ProcessWriterGate

_READ_ONLY = "waitline_read_only"


def make_engine(settings: Settings) -> AsyncEngine:
    settings.ensure_sqlite_directory()
    timeout_ms = str(int(settings.transaction_timeout_seconds * 1000))
    common: dict[str, Any] = {
        # Error messages would otherwise carry the statement's values (names, phone numbers) into logs.
        "hide_parameters": True,
        "pool_size": settings.pool_connections,
        "max_overflow": settings.pool_max_overflow,
        "pool_timeout": settings.pool_timeout_seconds,
    }
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.async_url, connect_args={"timeout": settings.transaction_timeout_seconds}, **common
        )
        _configure_sqlite(engine, busy_timeout_seconds=settings.transaction_timeout_seconds)
        return engine
    session_settings = {
        "statement_timeout": timeout_ms,
        "idle_in_transaction_session_timeout": timeout_ms,
        # A 201 means the join is on disk: never let a session turn this off.
        "synchronous_commit": "on",
    }
    if settings.database_pooler == "pgbouncer":
        engine = create_async_engine(
            settings.async_url,
            isolation_level="READ COMMITTED",
            connect_args={
                "timeout": settings.transaction_timeout_seconds,
                # PgBouncer refuses startup parameters it does not know (all but a few such as this one).
                "server_settings": {"application_name": "waitline"},
                # Consecutive exchanges may reach different server connections: asyncpg then prepares
                # unnamed statements and parses them again with each execution, and SQLAlchemy keeps none.
                "statement_cache_size": 0,
                "prepared_statement_cache_size": 0,
            },
            **common,
        )
        _set_locally_in_each_transaction(engine, session_settings)
        return engine
    return create_async_engine(
        settings.async_url,
        isolation_level="READ COMMITTED",
        connect_args={
            "timeout": settings.transaction_timeout_seconds,  # to connect
            "server_settings": {"application_name": "waitline", **session_settings},
        },
        **common,
    )


def _set_locally_in_each_transaction(engine: AsyncEngine, values: dict[str, str]) -> None:
    """Behind PgBouncer a session is shared: set what the direct connection sets at start in every
    transaction instead, for that transaction only (so nothing leaks to the next client of the session)."""
    settings = ", ".join(f"set_config('{name}', '{value}', true)" for name, value in values.items())
    statement = f"SELECT {settings}"

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A lone statement in autocommit is its own transaction: there is nothing to set it in. The store
        # runs reads only that way through PgBouncer (``Database.single_statement`` opens a transaction).
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            connection.exec_driver_sql(statement)


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout_seconds: float) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (the driver's implicit BEGIN is DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_seconds * 1000)}")
        _enter_wal_mode(cursor, time.monotonic() + busy_timeout_seconds)
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        sqlite_functions.register(dbapi_connection)  # the analytics' rollup trigger calls them

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _enter_wal_mode(cursor: Any, deadline: float) -> None:
    """Switch a fresh file to WAL. Two processes switching it at once can deadlock on the lock upgrade, and
    SQLite then answers "database is locked" at once instead of calling the busy handler: wait and try
    again, as the busy handler would have (seen in CI with two ``waitline migrate`` on a new file)."""
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
        time.sleep(random.uniform(0.005, 0.02))  # apart, so that the two do not collide again


# SQLSTATEs that say "not now" rather than "bad request": connection failures, server shutting down or
# starting, statement or lock timeouts, too many connections, a deadlock or serialization failure (the
# client may simply retry).
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P", "57014", "55P03", "40P01", "40001")
# Class 22, data exception: the values themselves were unacceptable.
_DATA_EXCEPTION = "22"


def _sqlstate(error: BaseException) -> str:
    return str(getattr(getattr(error, "orig", None), "sqlstate", None) or "")


def is_connection_failure(error: BaseException) -> bool:
    """True for errors that mean the database is unreachable or overloaded, not that the request was bad."""
    if isinstance(error, PoolTimeout | OSError | TimeoutError | InterfaceError):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        if _sqlstate(error).startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
            return True
    # SQLite: "database is locked" after the busy timeout.
    return isinstance(error, OperationalError) and "locked" in str(error.orig)


def error_for_sqlstate(sqlstate: str) -> Exception | None:
    """The domain error a failed statement of this SQLSTATE stands for, as ``Database`` turns it (None when
    it stands for none): for a failure caught inside a function and returned as a code (a batched join)."""
    if sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
        return ServiceUnavailable()
    if sqlstate.startswith(_DATA_EXCEPTION):
        return UnstorableInput()
    return None


@dataclass(frozen=True)
class PoolStatus:
    in_use: int
    capacity: int


class Database:
    """Opens the transactions that services run their use cases in."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        transaction_timeout_seconds: float,
        pool_capacity: int,
        writes_in_transactions: bool = False,
        pool_timeout_seconds: float = 2.0,
    ) -> None:
        self.engine = engine
        self.transaction_timeout_seconds = transaction_timeout_seconds
        # How long a use case may wait for a connection (the pool's own timeout), or for its turn when
        # something else waits for it (a join behind its restaurant's batch in flight).
        self.pool_timeout_seconds = pool_timeout_seconds
        self.pool_capacity = pool_capacity
        # PostgreSQL runs a lone statement as its own transaction: no BEGIN and COMMIT round trips.
        self._autocommit = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else None
        )
        # Behind PgBouncer a write needs a transaction to carry its settings (synchronous_commit above all).
        self._writes_in_transactions = writes_in_transactions
        # SQLite has one writer at a time. Within a process the writing transactions queue here, in order,
        # and one at a time takes the database's lock; left to SQLite, each connection would poll for that
        # lock with growing sleeps (its busy handler), unfairly: seconds of p99 at 32 clients. Processes
        # (--workers) still meet at SQLite's lock: one writer per process waits there, not every request.
        self._writer = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        # ... and across processes they queue in the kernel (store/sqlite_writer.py), not in SQLite's busy
        # handler's sleeps.
        path = engine.url.database if self._writer is not None else None
        gated = FLOCK_AVAILABLE and bool(path) and path != ":memory:"
        self._gate = ProcessWriterGate(path) if gated and path else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A writing transaction, committed when the block ends, rolled back on error or timeout."""
        if self._writer is None:
            async with self._guard(), self.engine.begin() as connection:
                yield connection
            return
        gate = self._gate.held() if self._gate is not None else contextlib.nullcontext()
        async with self._guard(), self._writer, gate, self.engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def single_statement(self) -> AsyncIterator[AsyncConnection]:
        """For a use case the store runs as ONE statement on PostgreSQL (the join function, the claim).

        There the statement is its own transaction (autocommit): atomic, and one round trip in all. On SQLite,
        where the store needs several statements, it is a ``BEGIN IMMEDIATE`` transaction like any other.
        """
        if self._autocommit is None or self._writes_in_transactions:
            async with self.transaction() as connection:
                yield connection
            return
        async with self._guard(), self._autocommit.connect() as connection:
            yield connection

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncConnection]:
        """For reading. PostgreSQL: each statement sees what is committed when it starts (no BEGIN/COMMIT).
        SQLite: a deferred transaction, which does not take the write lock."""
        if self._autocommit is not None:
            async with self._guard(), self._autocommit.connect() as connection:
                yield connection
            return
        async with self._guard(), self.engine.connect() as connection:
            await connection.execution_options(**{_READ_ONLY: True})
            async with connection.begin():
                yield connection

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.transaction_timeout_seconds):
                yield
        except (DBAPIError, PoolTimeout, OSError, TimeoutError) as error:
            if is_connection_failure(error):
                raise ServiceUnavailable() from error
            if _sqlstate(error).startswith(_DATA_EXCEPTION):
                # Input the database refuses (a NUL byte in text, a number out of range): the client's
                # mistake, a 400, not a 500 with a stack trace.
                raise UnstorableInput() from error
            raise

    async def ping(self, *, timeout_seconds: float) -> bool:
        try:
            async with asyncio.timeout(timeout_seconds), self.engine.connect() as connection:
                await connection.exec_driver_sql("SELECT 1")
        except (DBAPIError, PoolTimeout, OSError, TimeoutError):
            return False
        return True

    async def open_pool(self, *, timeout_seconds: float) -> int:
        """Open every connection of the pool now, at start, rather than one by one under the first load: the
        pool keeps them (no overflow by default), so none is opened or closed while serving. Best effort: a
        database that does not answer yet is no error here (readiness says so); returns how many opened."""
        size = getattr(self.engine.pool, "size", None)
        wanted = size() if callable(size) else 0
        opened = 0
        async with contextlib.AsyncExitStack() as held:

            async def hold_one() -> None:
                nonlocal opened
                await held.enter_async_context(self.engine.connect())
                opened += 1

            try:
                async with asyncio.timeout(timeout_seconds):
                    await asyncio.gather(*(hold_one() for _ in range(wanted)))
            except (DBAPIError, PoolTimeout, OSError, TimeoutError):
                pass
        return opened

    def pool_status(self) -> PoolStatus:
        checked_out = getattr(self.engine.pool, "checkedout", None)
        return PoolStatus(in_use=checked_out() if checked_out else 0, capacity=self.pool_capacity)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._gate is not None:
            self._gate.close()


def open_database(settings: Settings) -> Database:
    """The engine and its Database, as settings say (connections are made on first use)."""
    return Database(
        make_engine(settings),
        transaction_timeout_seconds=settings.transaction_timeout_seconds,
        pool_capacity=settings.pool_connections + settings.pool_max_overflow,
        writes_in_transactions=settings.database_pooler == "pgbouncer" and not settings.is_sqlite,
        pool_timeout_seconds=settings.pool_timeout_seconds,
    )
