"""Change signals between processes on PostgreSQL: one NOTIFY per batch of commits, and LISTEN for them.

A signal only wakes: it names restaurants whose log grew, and whoever receives one reads the log's heads
(``store.events.heads``). Losing one costs only latency, because the readers also poll the heads.

``SignalConnection`` holds ONE dedicated connection per process (asyncpg directly: a pooled SQLAlchemy
connection would be held forever). It LISTENs, and it sends what this process's commits announce,
coalesced: one ``pg_notify`` per batch (the commits of ``COALESCE_SECONDS`` after the first, and whatever
gathers while one is in flight). A NOTIFY sent
from inside each change's transaction (as the triggers of migration 0003 did) takes a lock that serialises
every notifying commit in the database; this one is sent after commit, outside any transaction that writes.
It pings its connection, and reconnects by itself with backoff when it drops; what was announced while it
was down is dropped (the pollers deliver it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator

import asyncpg

CHANNEL = "waitline_queue"
APPLICATION_NAME = "waitline-listen"
# How long a batch stays open after the first commit it holds: at most 50 NOTIFYs a second per process, for
# 20 ms more latency across processes.
COALESCE_SECONDS = 0.02
# PostgreSQL refuses payloads of 8000 bytes or more; a restaurant id takes 37 with its comma.
_IDS_PER_PAYLOAD = 200

_log = logging.getLogger("waitline.live")


def payloads(restaurant_ids: set[uuid.UUID]) -> Iterator[str]:
    ordered = sorted(str(restaurant_id) for restaurant_id in restaurant_ids)
    for start in range(0, len(ordered), _IDS_PER_PAYLOAD):
        yield ",".join(ordered[start : start + _IDS_PER_PAYLOAD])


def restaurants_in(payload: str) -> set[uuid.UUID]:
    found = set()
    for part in payload.split(","):
        try:
            found.add(uuid.UUID(part))
        except ValueError:
            continue  # not ours
    return found


class SignalConnection:
    """Runs until cancelled. ``on_signal`` gets the restaurants each notification names;
    ``on_listening(True)`` is called each time the connection is (re)established (signals sent while it was
    down are lost: look again at everything), ``on_listening(False)`` when it drops."""

    def __init__(
        self,
        *,
        dsn: str,
        on_signal: Callable[[set[uuid.UUID]], None],
        on_listening: Callable[[bool], None],
        ping_seconds: float = 10.0,
        connect_timeout_seconds: float = 5.0,
        max_backoff_seconds: float = 10.0,
        coalesce_seconds: float = COALESCE_SECONDS,
    ) -> None:
        self._dsn = dsn
        self._on_signal = on_signal
        self._on_listening = on_listening
        self._ping_seconds = ping_seconds
        self._connect_timeout = connect_timeout_seconds
        self._max_backoff = max_backoff_seconds
        self._coalesce_seconds = coalesce_seconds
        self._announced: set[uuid.UUID] = set()
        self._poke = asyncio.Event()
        self._lost = False
        self._stopping = False

    def announce(self, restaurant_id: uuid.UUID) -> None:
        """This process committed a change of that restaurant: tell the others with the next batch."""
        self._announced.add(restaurant_id)
        self._poke.set()

    def stop(self) -> None:
        """``run`` returns once the step it is in is done: cancelled in the middle of connecting, asyncpg
        would report the lost connection as an error."""
        self._stopping = True
        self._poke.set()

    async def run(self) -> None:
        backoff = 0.2
        while not self._stopping:
            try:
                await self._session()
                backoff = 0.2
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                _log.warning("signal connection failed (%s); retrying in %.1f s", error, backoff)
            except Exception:
                # Whatever it was, live pages must not go without signals for good: log it, and go on.
                _log.exception("signal connection failed; retrying in %.1f s", backoff)
            self._on_listening(False)
            self._announced.clear()
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), timeout=backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _session(self) -> None:
        connection = await asyncpg.connect(
            self._dsn,
            timeout=self._connect_timeout,
            server_settings={"application_name": APPLICATION_NAME},
        )
        self._lost = False
        try:
            connection.add_termination_listener(self._terminated)
            await connection.add_listener(CHANNEL, self._received)
            self._on_listening(True)
            while not (self._lost or self._stopping):
                try:
                    await asyncio.wait_for(self._poke.wait(), timeout=self._ping_seconds)
                except TimeoutError:
                    # A connection can die without a word (a dropped network path): ask it something.
                    await connection.fetchval("SELECT 1", timeout=self._connect_timeout)
                    continue
                self._poke.clear()
                if self._announced and not (self._lost or self._stopping):
                    # Let the commits of the next moment join this batch: one NOTIFY for all of them.
                    await asyncio.sleep(self._coalesce_seconds)
                    batch, self._announced = self._announced, set()
                    for payload in payloads(batch):
                        await connection.execute(
                            "SELECT pg_notify($1, $2)", CHANNEL, payload, timeout=self._connect_timeout
                        )
            if self._lost:
                _log.warning("signal connection closed; reconnecting")
        finally:
            connection.terminate()

    def _terminated(self, _connection: object) -> None:
        self._lost = True
        self._poke.set()

    def _received(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        restaurant_ids = restaurants_in(payload)
        if restaurant_ids:
            self._on_signal(restaurant_ids)
