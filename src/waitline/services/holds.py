"""The hold window after a call: the guest confirms ("On my way", by the status page or a reply); where
the restaurant chose so, a hold that runs out unconfirmed is marked no-show by the system (the worker runs
``expire``), otherwise the dashboard prompts staff."""

from __future__ import annotations

import uuid

from waitline.domain import GUEST, SYSTEM, EventDraft, EventType, Transition, TransitionNotAllowed
from waitline.domain.entry import Status
from waitline.services.outcomes import Observer, Outcome
from waitline.services.queue import Queue
from waitline.store import entries, events, holds, outbox
from waitline.store.engine import Database

EXPIRE_BATCH = 50


class Holds:
    def __init__(self, *, database: Database, queue: Queue, observer: Observer) -> None:
        self._database = database
        self._queue = queue
        self._observer = observer

    async def confirm(self, *, slug: str, entry_id: uuid.UUID) -> bool:
        """The called guest is on the way: a `confirmed` event, once. False if the entry is not called (or
        was confirmed already)."""
        async with self._database.snapshot() as connection:
            entry = await entries.get_entry_by_slug(connection=connection, slug=slug, entry_id=entry_id)
        async with self._database.transaction() as connection:
            await events.lock_restaurant(connection=connection, restaurant_id=entry.restaurant_id)
            current = await entries.get_entry(
                connection=connection, restaurant_id=entry.restaurant_id, entry_id=entry_id
            )
            said = await holds.replies(connection=connection, entry_ids=[entry_id])
            if current.status is not Status.CALLED or said.get(entry_id, holds.GuestReplies()).confirmed:
                return False
            draft = EventDraft(
                EventType.CONFIRMED, GUEST, entry_id=entry_id, token_number=current.token_number
            )
            event = await events.append(connection=connection, restaurant_id=entry.restaurant_id, draft=draft)
        self._observer.observe(Outcome("confirm", "done", entry.restaurant_id, current, (event,)))
        return True

    async def expire(self) -> int:
        """Mark no-show every unconfirmed party whose hold ran out, where the restaurant chose so."""
        async with self._database.snapshot() as connection:
            due = await holds.expired(connection=connection, limit=EXPIRE_BATCH)
        marked = 0
        for restaurant_id, entry_id in due:
            try:
                await self._queue.transition(
                    restaurant_id=restaurant_id,
                    entry_id=entry_id,
                    transition=Transition.NO_SHOW,
                    actor=SYSTEM,
                )
            except TransitionNotAllowed:
                continue  # seated or marked meanwhile (by staff, or another worker)
            marked += 1
        return marked

    async def resend_table_ready(self, *, restaurant_id: uuid.UUID, entry_id: uuid.UUID, key: str) -> bool:
        """Staff's "resend table ready": one text per press, however often the form is sent (``key``)."""
        async with self._database.transaction() as connection:
            await events.lock_restaurant(connection=connection, restaurant_id=restaurant_id)
            return await outbox.resend_table_ready(
                connection=connection, restaurant_id=restaurant_id, entry_id=entry_id, key=key
            )
