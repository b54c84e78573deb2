"""The counter row keeps how many parties wait (``token_sequence.waiting``), in the same update that advances
the log's head, so that a join's position and the queue-full check read one value under the lock instead of
counting the queue. It must equal the waiting entries after every kind of change, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.conftest import CLIENT_IP, StaffRestaurant
from waitline.domain import SYSTEM, Transition
from waitline.services import Services
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio


async def kept_and_counted(database: Database, restaurant: StaffRestaurant) -> tuple[int, int]:
    async with database.snapshot() as connection:
        row = (
            await connection.execute(
                text(
                    """
                    SELECT s.waiting, (SELECT count(*) FROM queue_entry e
                                       WHERE e.restaurant_id = s.restaurant_id AND e.status = 'waiting')
                    FROM token_sequence s WHERE s.restaurant_id = :id
                    """
                ),
                {"id": str(restaurant.restaurant.id)},
            )
        ).one()
    return int(row[0]), int(row[1])


async def test_the_waiting_count_on_the_counter_row_follows_joins_calls_cancels_and_leaves(
    database: Database, services: Services, restaurant: StaffRestaurant
) -> None:
    restaurant_id = restaurant.restaurant.id
    joined = []
    for index in range(8):
        result = await services.queue.join(
            slug="luigis",
            name=f"Guest {index}",
            mobile=f"+1415555{index:04d}",
            party_size=2,
            idempotency_key=f"key-{index}",
            client_ip=CLIENT_IP,
        )
        joined.append(result.entry)
    # A join's position is the count kept on the counter row: 1..8 as they came.
    assert [entry.position for entry in joined] == list(range(1, 9))
    assert await kept_and_counted(database, restaurant) == (8, 8)

    first = await services.queue.call_next(restaurant_id=restaurant_id, max_party_size=None, actor=SYSTEM)
    second = await services.queue.call_next(restaurant_id=restaurant_id, max_party_size=None, actor=SYSTEM)
    assert first is not None and second is not None
    assert await kept_and_counted(database, restaurant) == (6, 6)

    changes = [
        (first.id, Transition.SEAT),  # called -> seated: no longer counted since the call
        (second.id, Transition.CANCEL),  # called -> cancelled: the same
        (joined[4].id, Transition.CANCEL),  # waiting -> cancelled by staff
    ]
    for entry_id, transition in changes:
        await services.queue.transition(
            restaurant_id=restaurant_id, entry_id=entry_id, transition=transition, actor=SYSTEM
        )
    await services.queue.leave(slug="luigis", entry_id=joined[6].id)  # waiting -> left by the guest
    assert await kept_and_counted(database, restaurant) == (4, 4)

    # A replay changes nothing; the next join is fifth in line.
    replay = await services.queue.join(
        slug="luigis",
        name="Guest 7",
        mobile="+14155550007",
        party_size=2,
        idempotency_key="key-7",
        client_ip=CLIENT_IP,
    )
    assert not replay.created and replay.entry.position == 4  # behind 2, 3 and 5
    late = await services.queue.join(
        slug="luigis",
        name="Late",
        mobile="+14155559999",
        party_size=2,
        idempotency_key=None,
        client_ip=CLIENT_IP,
    )
    assert late.entry.position == 5
    assert await kept_and_counted(database, restaurant) == (5, 5)
