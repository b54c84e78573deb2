"""Every message reaches the guest through the Twilio stand-in, written with the event that causes it."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from tests.conftest import make_restaurant
from tests.notify_helpers import drain, join, notifier, outbox_rows
from tests.twilio_standin import FROM, TwilioStandIn, twilio_standin
from waitline.domain import GUEST, SYSTEM, AlreadyInQueue, Transition, TransitionNotAllowed
from waitline.domain.message import NoticePolicy
from waitline.services import Services
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    with twilio_standin() as standin:
        yield standin


async def test_every_message_type_goes_out_once_with_its_text(
    database: Database, services: Services, standin: TwilioStandIn
) -> None:
    restaurant = (await make_restaurant(database)).restaurant
    guests = [await join(services, i) for i in range(6)]  # tokens 1..6
    await services.queue.call_next(restaurant_id=restaurant.id, max_party_size=None, actor=SYSTEM)  # 1
    # 1 called: 4 is third now (almost up)
    await services.queue.transition(
        restaurant_id=restaurant.id, entry_id=guests[0].id, transition=Transition.NO_SHOW, actor=SYSTEM
    )
    await services.queue.leave(slug="luigis", entry_id=guests[1].id)  # 2 leaves: 5 is third
    await services.queue.transition(
        restaurant_id=restaurant.id, entry_id=guests[2].id, transition=Transition.CANCEL, actor=SYSTEM
    )  # 3 cancelled: 6 is third

    async with notifier(database, standin) as worker:
        await drain(worker)

    sent = {(r.to, r.body) for r in standin.accepted}
    assert len(standin.accepted) == len(sent)  # none twice
    by_number: dict[str, list[str]] = {}
    for received in standin.accepted:
        assert received.sender == FROM
        by_number.setdefault(received.to, []).append(received.body)
    ada = by_number["+14155550000"]
    assert ada[0].startswith("Luigis: you're in the queue, Guest 0. Your number is 1, position 1.")
    assert f"https://queue.example.com/luigis/e/{guests[0].id}" in ada[0]
    assert ada[1].startswith("Luigis: your table is ready, Guest 0 (number 1).")
    assert ada[2].startswith("Luigis: we couldn't hold your table any longer, Guest 0.")
    assert len(ada) == 3
    assert by_number["+14155550001"][1] == "Luigis: you've left the queue, Guest 1. Hope to see you soon."
    assert by_number["+14155550002"][1] == "Luigis: your place in the queue (number 3) was cancelled."
    for index in (3, 4, 5):
        almost = [body for body in by_number[f"+1415555{index:04d}"] if "almost your turn" in body]
        assert almost == [
            f"Luigis: almost your turn, Guest {index}! You are number 3 in line. "
            f"https://queue.example.com/luigis/e/{guests[index].id}"
        ]
    rows = [row for row in await outbox_rows(database) if row["kind"] != "reminder"]
    assert {row["state"] for row in rows} == {"sent"}
    assert all(row["provider_id"].startswith("SM") for row in rows)
    assert sorted(row["kind"] for row in rows) == sorted(
        ["joined"] * 6 + ["table_ready", "no_show", "left", "cancelled"] + ["almost_up"] * 3
    )
    # The call's reminder is due at half the hold window (test_hold_window.py), not yet.
    assert [row["state"] for row in await outbox_rows(database) if row["kind"] == "reminder"] == ["pending"]


async def test_almost_up_is_sent_once_and_not_to_who_joined_near_the_front(
    database: Database, services: Services, standin: TwilioStandIn
) -> None:
    restaurant = (await make_restaurant(database)).restaurant
    for i in range(5):
        await join(services, i)
    for _ in range(3):
        await services.queue.call_next(restaurant_id=restaurant.id, max_party_size=None, actor=SYSTEM)

    rows = await outbox_rows(database)
    almost = [row["recipient"] for row in rows if row["kind"] == "almost_up"]
    # 4 reached third when 1 was called, 5 when 2 was; 3 joined third and never "reached" it.
    assert almost == ["+14155550003", "+14155550004"]


async def test_almost_up_goes_by_every_channel_the_guest_has_once_each(
    database: Database, services: Services
) -> None:
    """Text and email: one "almost up" each, even when the guest reaches the position a second time (the
    restaurant moved it) and when calls race."""
    restaurant = (await make_restaurant(database)).restaurant
    for i in range(8):
        await join(services, i, email=f"guest{i}@example.com")
    await services.queue.call_next(restaurant_id=restaurant.id, max_party_size=None, actor=SYSTEM)
    # Guest 3 is third now. At "almost up" = 2, the next call makes it second: no second message.
    await services.texts.set_policy(restaurant_id=restaurant.id, policy=NoticePolicy(10, False, 2))
    await services.queue.call_next(restaurant_id=restaurant.id, max_party_size=None, actor=SYSTEM)
    await asyncio.gather(
        *(
            services.queue.call_next(restaurant_id=restaurant.id, max_party_size=None, actor=SYSTEM)
            for _ in range(3)
        )
    )

    almost = [
        (row["recipient"], row["channel"])
        for row in await outbox_rows(database)
        if row["kind"] == "almost_up"
    ]
    assert len(almost) == len(set(almost))  # never twice on a channel
    assert almost[:2] == [("+14155550003", "sms"), ("guest3@example.com", "email")]
    by_channel = Counter(channel for _, channel in almost)
    assert by_channel["sms"] == by_channel["email"] >= 2


async def test_a_message_exists_exactly_when_its_event_committed(
    database: Database, services: Services
) -> None:
    restaurant = (await make_restaurant(database)).restaurant
    first = await join(services, 1)
    with pytest.raises(AlreadyInQueue):
        await join(services, 1)  # the same number again: refused, nothing recorded
    await services.queue.call_next(restaurant_id=restaurant.id, max_party_size=None, actor=GUEST)
    with pytest.raises(TransitionNotAllowed):  # seated twice: the second is refused and writes nothing
        for _ in range(2):
            await services.queue.transition(
                restaurant_id=restaurant.id, entry_id=first.id, transition=Transition.SEAT, actor=SYSTEM
            )
    async with database.snapshot() as connection:
        events = (await connection.execute(text("SELECT seq, type FROM queue_event ORDER BY seq"))).all()
    rows = await outbox_rows(database)
    assert [event.type for event in events] == ["joined", "called", "seated"]
    assert [row["kind"] for row in rows] == ["joined", "table_ready", "reminder"]


async def test_a_restaurant_with_notifications_off_enqueues_nothing(
    database: Database, services: Services
) -> None:
    await make_restaurant(database)
    async with database.transaction() as connection:
        await connection.execute(text("UPDATE restaurant SET notify = false"))
    await join(services, 1)
    assert await outbox_rows(database) == []
