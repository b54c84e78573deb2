"""Guests' text replies and the provider's delivery reports (Twilio's webhooks), as use cases.

A reply applies to the number's active entry at the restaurant that texted it last. Each reply that changes
something becomes an event in that restaurant's log (in one transaction, under the restaurant's lock):
C/CANCEL leaves the queue; 1/OMW/ON MY WAY confirms; L/LATE tells staff; STOP stops this restaurant's texts
to the number, START undoes it; anything else is recorded for staff as written. A number nobody texted, or
without an active entry, changes nothing, and the answer is the same as for any other number.
"""

from __future__ import annotations

from waitline import phone
from waitline.domain import GUEST, EventDraft, EventType, Transition, TransitionNotAllowed
from waitline.services.notifier import MessageObserver
from waitline.services.outcomes import Observer, Outcome
from waitline.services.queue import Queue
from waitline.sms import REPLY_KEYWORDS
from waitline.store import events, replies
from waitline.store.engine import Database

# Free text kept for staff: enough for "table by the window please", not a novel.
MAX_REPLY_CHARS = 320

_EVENTS = {"confirm": EventType.CONFIRMED, "late": EventType.LATE, "other": EventType.REPLIED}


class Replies:
    def __init__(
        self, *, database: Database, queue: Queue, observer: Observer, messages: MessageObserver | None = None
    ) -> None:
        self._database = database
        self._queue = queue
        self._observer = observer
        self._messages = messages

    async def text_received(self, *, mobile: str, text: str) -> str:
        """What the reply did: cancelled, confirmed, late, replied, opted_out, opted_in or ignored."""
        action = REPLY_KEYWORDS.get(" ".join(text.upper().split()), "other")
        async with self._database.snapshot() as connection:
            found = await replies.sender(connection=connection, mobile=mobile)
        if found is None:
            return "ignored"
        if action == "cancel":
            if found.entry_id is None:
                return "ignored"
            try:
                await self._queue.transition(
                    restaurant_id=found.restaurant_id,
                    entry_id=found.entry_id,
                    transition=Transition.LEAVE,
                    actor=GUEST,
                )
            except TransitionNotAllowed:
                return "ignored"  # it moved on meanwhile (seated, say)
            return "cancelled"
        if action in ("stop", "start"):
            draft = EventDraft(
                EventType.OPTED_OUT if action == "stop" else EventType.OPTED_IN,
                GUEST,
                entry_id=found.entry_id,
                token_number=found.token_number,
            )
        elif found.entry_id is None:
            return "ignored"
        else:
            details = {"text": text.strip()[:MAX_REPLY_CHARS]} if action == "other" else None
            draft = EventDraft(
                _EVENTS[action],
                GUEST,
                entry_id=found.entry_id,
                token_number=found.token_number,
                details=details,
            )
        async with self._database.transaction() as connection:
            await events.lock_restaurant(connection=connection, restaurant_id=found.restaurant_id)
            if action in ("stop", "start"):
                await replies.set_opted_out(
                    connection=connection,
                    restaurant_id=found.restaurant_id,
                    mobile=mobile,
                    out=action == "stop",
                )
            event = await events.append(connection=connection, restaurant_id=found.restaurant_id, draft=draft)
        self._observer.observe(
            Outcome(
                "reply",
                draft.type.value,
                found.restaurant_id,
                events=(event,),
                fields={"mobile": phone.mask(mobile)},
            )
        )
        return draft.type.value

    async def delivery_reported(self, *, provider_id: str, status: str, error_code: str | None) -> None:
        """Twilio's status callback: delivered, or undelivered/failed (with its error code)."""
        if status not in ("delivered", "undelivered", "failed"):
            return
        delivered = status == "delivered"
        reason = None if delivered else f"{status} (Twilio error {error_code or 'none'})"
        async with self._database.transaction() as connection:
            kind = await replies.delivery_state(
                connection=connection, provider_id=provider_id, delivered=delivered, reason=reason
            )
        if kind is not None and self._messages is not None:
            self._messages.message(channel="sms", kind=kind, outcome="delivered" if delivered else "failed")
