"""Change signals from the database: which restaurant's queue changed (migration 0002 sends them).

PostgreSQL: triggers ``NOTIFY waitline_queue, '<restaurant id>:<txid>'`` at commit. ``ChangeListener`` holds
ONE dedicated connection per process that ``LISTEN``s for them (asyncpg directly: a pooled SQLAlchemy
connection would be held forever), pings it, and reconnects by itself with backoff when it drops.

SQLite: triggers bump ``queue_version.version`` of the restaurant; ``queue_versions`` reads them for a poller.

A signal only says "look again": whoever receives one re-reads the state through the services.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.store.queries import Statement

CHANNEL = "waitline_queue"
APPLICATION_NAME = "waitline-listen"

_log = logging.getLogger("waitline.live")


@dataclass(frozen=True)
class QueueChange:
    restaurant_id: uuid.UUID
    version: int

    @classmethod
    def from_payload(cls, payload: str) -> QueueChange | None:
        restaurant_id, _, version = payload.partition(":")
        try:
            return cls(restaurant_id=uuid.UUID(restaurant_id), version=int(version))
        except ValueError:
            return None


_QUEUE_VERSIONS = Statement(
    "SELECT restaurant_id, version FROM queue_version WHERE restaurant_id IN :restaurant_ids",
    "restaurant_ids",
)


async def queue_versions(
    *, connection: AsyncConnection, restaurant_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """SQLite: each restaurant's change counter (0 for one that never changed)."""
    ids = sorted(str(restaurant_id) for restaurant_id in restaurant_ids)
    versions = dict.fromkeys((uuid.UUID(value) for value in ids), 0)
    if ids:
        result = await connection.execute(_QUEUE_VERSIONS.on(connection), {"restaurant_ids": ids})
        for row in result.mappings():
            versions[uuid.UUID(str(row["restaurant_id"]))] = int(row["version"])
    return versions


class ChangeListener:
    """Runs until cancelled: LISTEN on one connection, calling ``on_change`` for each signal.

    ``on_listening(True)`` is called each time the connection is (re)established (signals sent while it was
    down are lost, so the receiver should look again at everything), ``on_listening(False)`` when it drops.
    """

    def __init__(
        self,
        *,
        dsn: str,
        on_change: Callable[[QueueChange], None],
        on_listening: Callable[[bool], None],
        ping_seconds: float = 10.0,
        connect_timeout_seconds: float = 5.0,
        max_backoff_seconds: float = 10.0,
    ) -> None:
        self._dsn = dsn
        self._on_change = on_change
        self._on_listening = on_listening
        self._ping_seconds = ping_seconds
        self._connect_timeout = connect_timeout_seconds
        self._max_backoff = max_backoff_seconds

    async def run(self) -> None:
        backoff = 0.2
        while True:
            try:
                await self._listen_once()
                backoff = 0.2
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                _log.warning("LISTEN connection failed (%s); retrying in %.1f s", error, backoff)
            except Exception:
                # Whatever it was, live pages must not go without signals for good: log it, and go on.
                _log.exception("LISTEN connection failed; retrying in %.1f s", backoff)
            self._on_listening(False)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _listen_once(self) -> None:
        connection = await asyncpg.connect(
            self._dsn,
            timeout=self._connect_timeout,
            server_settings={"application_name": APPLICATION_NAME},
        )
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _connection: lost.set())
            await connection.add_listener(CHANNEL, self._received)
            self._on_listening(True)
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), timeout=self._ping_seconds)
                except TimeoutError:
                    # A connection can die without a word (a dropped network path): ask it something.
                    await connection.fetchval("SELECT 1", timeout=self._connect_timeout)
            _log.warning("LISTEN connection closed; reconnecting")
        finally:
            connection.terminate()

    def _received(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        change = QueueChange.from_payload(payload)
        if change is not None:
            self._on_change(change)
