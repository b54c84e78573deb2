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
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from waitline.services.outcomes import Outcome

_log = logging.getLogger("waitline.live")

Key = TypeVar("Key")


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


def _decrement(counter: Counter[Key], key: Key) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


class HubFull(Exception):
    """No room for another stream: the process's streams, or the guests' share of them, or this restaurant's
    guest share, are all taken (503)."""


class ClientFull(HubFull):
    """This one client already holds its share of guest streams (429)."""


@dataclass(frozen=True)
class StreamLimits:
    """How a process's live streams are shared out, so that no one client or restaurant can take them all.

    ``total`` streams at most; staff streams may use all of them, guest streams all but ``staff_reserve``;
    at most ``per_client`` guest streams per client (as the per-address limits count it: an IPv6 client by
    its network) and ``per_restaurant`` guest streams per restaurant. Staff streams are signed in, and
    count against ``total`` alone.
    """

    total: int
    staff_reserve: int = 0
    per_client: int | None = None
    per_restaurant: int | None = None

    @property
    def guests(self) -> int:
        return max(self.total - self.staff_reserve, 0)


class LiveHub:
    def __init__(
        self,
        *,
        max_connections: int | StreamLimits,
        poll_seconds: float,
        recheck_seconds: float,
        refresh_seconds: float,
        render_slots: int,
    ) -> None:
        self.limits = (
            max_connections if isinstance(max_connections, StreamLimits) else StreamLimits(max_connections)
        )
        self.poll_seconds = poll_seconds
        self.recheck_seconds = recheck_seconds
        self.refresh_seconds = refresh_seconds
        self.render_slots = asyncio.Semaphore(render_slots)
        self.closing = False
        self._announce: Callable[[uuid.UUID], None] | None = None
        self._subscriptions: dict[uuid.UUID, set[Subscription]] = {}
        self._heads: dict[uuid.UUID, int] = {}
        self._count = 0
        self._guests = 0
        self._by_client: Counter[str] = Counter()
        self._guests_by_restaurant: Counter[uuid.UUID] = Counter()
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
    def subscribe(self, restaurant_id: uuid.UUID, *, client: str | None = None) -> Iterator[Subscription]:
        """A stream of this restaurant: a guest's (``client``: who the per-client share counts it as) or,
        with ``client=None``, a signed-in staff member's, which may use the staff reserve."""
        self._admit(restaurant_id, client)
        subscription = Subscription(restaurant_id)
        self._subscriptions.setdefault(restaurant_id, set()).add(subscription)
        self._count += 1
        if client is not None:
            self._guests += 1
            self._by_client[client] += 1
            self._guests_by_restaurant[restaurant_id] += 1
        try:
            yield subscription
        finally:
            self._count -= 1
            if client is not None:
                self._guests -= 1
                _decrement(self._by_client, client)
                _decrement(self._guests_by_restaurant, restaurant_id)
            watchers = self._subscriptions.get(restaurant_id, set())
            watchers.discard(subscription)
            if not watchers:
                self._subscriptions.pop(restaurant_id, None)
                self._heads.pop(restaurant_id, None)

    def _admit(self, restaurant_id: uuid.UUID, client: str | None) -> None:
        limits = self.limits
        if self.closing or self._count >= limits.total:
            raise HubFull()
        if client is None:
            return
        if limits.per_client is not None and self._by_client[client] >= limits.per_client:
            raise ClientFull()
        if self._guests >= limits.guests:
            raise HubFull()
        if (
            limits.per_restaurant is not None
            and self._guests_by_restaurant[restaurant_id] >= limits.per_restaurant
        ):
            raise HubFull()

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
