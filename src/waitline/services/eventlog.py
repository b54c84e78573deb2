"""Reading the event log: a page after a seq, where each restaurant's log ends, and checking the chain."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from waitline.domain import ChainBreak, ChainVerifier, Event
from waitline.store import events, restaurants
from waitline.store.engine import Database

# How many events `verify` reads at a time: a year's log is walked in pages, never held whole.
VERIFY_PAGE = 5000


@dataclass(frozen=True)
class EventPage:
    events: tuple[Event, ...]
    # The last seq on this page (the cursor to resume after), or the cursor given when the page is empty.
    last_seq: int


@dataclass(frozen=True)
class Verdict:
    """What walking one restaurant's chain found."""

    checked: int  # events whose hash verified, from seq 1
    head_seq: int  # where the counter row says the log ends
    broken: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.broken is None


class EventLog:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    async def page(self, *, restaurant_id: uuid.UUID, after: int, limit: int) -> EventPage:
        async with self._database.snapshot() as connection:
            found = await events.page(
                connection=connection, restaurant_id=restaurant_id, after=after, limit=limit
            )
        return EventPage(events=tuple(found), last_seq=found[-1].seq if found else after)

    async def heads(self, *, restaurant_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
        """The last seq of each restaurant's log (0 before its first event)."""
        async with self._database.snapshot() as connection:
            found = await events.heads(connection=connection, restaurant_ids=restaurant_ids)
        return {restaurant_id: head.seq for restaurant_id, head in found.items()}

    async def verify(self, *, slug: str) -> Verdict:
        """Walk the restaurant's chain from seq 1, then check its end against the counter row.

        The head is read first, with whatever lies above it, in one snapshot; the walk then reads up to that
        head (events are never changed, so later snapshots see the same ones). Events appended while the
        walk runs lie beyond it and are not judged.
        """
        async with self._database.snapshot() as connection:
            restaurant = await restaurants.get_restaurant_by_slug(connection=connection, slug=slug)
            head, beyond = await events.tail(connection=connection, restaurant_id=restaurant.id)
        verifier = ChainVerifier()
        after = 0
        while after < head.seq and verifier.broken is None:
            async with self._database.snapshot() as connection:
                found = await events.page(
                    connection=connection,
                    restaurant_id=restaurant.id,
                    after=after,
                    limit=min(VERIFY_PAGE, head.seq - after),
                )
            for event in found:
                if verifier.feed(event) is not None:
                    break
            if not found:
                break
            after = found[-1].seq
        verifier.finish(head, beyond=beyond)
        return Verdict(checked=verifier.checked, head_seq=head.seq, broken=verifier.broken)
