"""The live pages' hub: which open streams watch which restaurant, and how far each restaurant's log has got.

One ``LiveHub`` per process. A stream is woken when its restaurant's log grows past what the hub last saw:
- at once, when this process commits a change (the hub observes the services' outcomes);
- when another process's commit is signalled (PostgreSQL: ``store.signals``), after ``follow`` has read
  the heads of the restaurants signalled;
- when ``follow`` polls the heads of every watched restaurant: every ``poll_seconds`` while no signals
  arrive (SQLite, or the signal connection is down), and every ``recheck_seconds`` while they do. So a lost
  signal costs latency, never an update.
A wake-up carries no data: the stream re-reads the state through the services and sends what changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator

from waitline.services.outcomes import Outcome

_log = logging.getLogger("waitline.live")


class Subscription:
    def __init__(self, restaurant_id: uuid.UUID) -> None:
        self.restaurant_id = restaurant_id
        self._woken = asyncio.Event()

    def wake(self) -> None:
        self._woken.set()

    async def wait(self, seconds: float) -> bool:
        """True when woken, False when ``seconds`` passed first."""
        try:
            await asyncio.wait_for(self._woken.wait(), timeout=seconds)
        except TimeoutError:
            return False
        finally:
            self._woken.clear()
        return True


class HubFull(Exception):
    pass


class LiveHub:
    def __init__(
        self,
        *,
        max_connections: int,
        poll_seconds: float,
        recheck_seconds: float,
        refresh_seconds: float,
        render_slots: int,
    ) -> None:
        self.max_connections = max_connections
        self.poll_seconds = poll_seconds
        self.recheck_seconds = recheck_seconds
        self.refresh_seconds = refresh_seconds
        self.render_slots = asyncio.Semaphore(render_slots)
        self.closing = False
        self._announce: Callable[[uuid.UUID], None] | None = None
        self._subscriptions: dict[uuid.UUID, set[Subscription]] = {}
        self._heads: dict[uuid.UUID, int] = {}
        self._count = 0
        self._signals_up = False
        self._signalled: set[uuid.UUID] = set()
        self._poll_all = True
        self._poke = asyncio.Event()

    @property
    def connections(self) -> int:
        return self._count

    def restaurants(self) -> set[uuid.UUID]:
        return set(self._subscriptions)

    @contextlib.contextmanager
    def subscribe(self, restaurant_id: uuid.UUID) -> Iterator[Subscription]:
        if self.closing or self._count >= self.max_connections:
            raise HubFull()
        subscription = Subscription(restaurant_id)
        self._subscriptions.setdefault(restaurant_id, set()).add(subscription)
        self._count += 1
        try:
            yield subscription
        finally:
            self._count -= 1
            watchers = self._subscriptions.get(restaurant_id, set())
            watchers.discard(subscription)
            if not watchers:
                self._subscriptions.pop(restaurant_id, None)
                self._heads.pop(restaurant_id, None)

    def announce_with(self, announce: Callable[[uuid.UUID], None]) -> None:
        """Where this process's own commits are announced to the other processes (their signal)."""
        self._announce = announce

    def advance(self, restaurant_id: uuid.UUID, seq: int) -> None:
        """The restaurant's log has reached ``seq``: wake its streams if that is news."""
        if restaurant_id not in self._subscriptions:
            return
        known = self._heads.get(restaurant_id)
        if known is None or seq > known:
            self._heads[restaurant_id] = seq
            # A restaurant seen for the first time wakes too: a change may have slipped in between its
            # stream's first read and this head.
            for subscription in self._subscriptions[restaurant_id]:
                subscription.wake()

    def observe(self, outcome: Outcome) -> None:
        """An observer of the services: this process's own commits wake its streams at once, and are
        announced to the other processes."""
        for event in outcome.events:
            self.advance(event.restaurant_id, event.seq)
            if self._announce is not None:
                self._announce(event.restaurant_id)

    def signalled(self, restaurant_ids: set[uuid.UUID]) -> None:
        """Another process committed changes of these restaurants (a signal: read their heads)."""
        self._signalled |= restaurant_ids
        self._poke.set()

    def signals(self, up: bool) -> None:
        """Signals arrive (or no longer do). When they come back, some may have been lost meanwhile."""
        was_up, self._signals_up = self._signals_up, up
        if up and not was_up:
            self._poll_all = True
            self._poke.set()

    @property
    def signals_up(self) -> bool:
        return self._signals_up

    @property
    def idle_timeout(self) -> float:
        """How long a stream waits for a wake-up before it re-reads (or sends a heartbeat) anyway."""
        return min(15.0, self.refresh_seconds)

    def wake_all(self) -> None:
        for watchers in self._subscriptions.values():
            for subscription in watchers:
                subscription.wake()

    def close(self) -> None:
        """The server is shutting down: every stream ends now, no new one starts, and ``follow`` returns."""
        self.closing = True
        self.wake_all()
        self._poke.set()

    async def follow(self, read_heads: Callable[[set[uuid.UUID]], Awaitable[dict[uuid.UUID, int]]]) -> None:
        """Reads the heads of signalled restaurants, and polls every watched one, until ``close``.

        It returns rather than being cancelled in the middle of a read, which would leave a pooled
        connection mid-query while the pool is being closed.
        """
        while not self.closing:
            interval = self.recheck_seconds if self._signals_up else self.poll_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), timeout=interval)
            self._poke.clear()
            if self.closing:
                return
            watched = self.restaurants()
            # A signal names restaurants to read; a poll (or a lost signal's aftermath) reads them all.
            targets = watched if self._poll_all or not self._signalled else self._signalled & watched
            self._signalled, self._poll_all = set(), False
            if not targets:
                continue
            try:
                heads = await read_heads(targets)
            except Exception:  # the database is busy or away: the next round tries again
                _log.warning("could not read the event log's heads", exc_info=True)
                self._poll_all = True
                await asyncio.sleep(self.poll_seconds)
                continue
            for restaurant_id, seq in heads.items():
                self.advance(restaurant_id, seq)
