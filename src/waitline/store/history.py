"""What the queue's history says: the pace of recent calls, the tokens called last, the day's counts.

Read by the pages (estimated waits, the "now serving" board, the staff dashboard); and the guard that lets
one of two staff devices pressing "call next" at once win. Each function takes an open connection.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain import CalledToken, DayCounts, datetime_from_row
from waitline.store.queries import Statement
from waitline.store.values import moment

# The partial index queue_entry_called_idx (restaurant_id, called_at) WHERE called_at IS NOT NULL serves
# these three, newest first.
_RECENT_CALL_TIMES = Statement(
    """
    SELECT called_at FROM queue_entry
    WHERE restaurant_id = :restaurant_id AND called_at IS NOT NULL AND called_at >= :since
    ORDER BY called_at DESC
    LIMIT :limit
    """
)
_LAST_CALLED = Statement(
    """
    SELECT token_number, status, called_at FROM queue_entry
    WHERE restaurant_id = :restaurant_id AND called_at IS NOT NULL
    ORDER BY called_at DESC, token_number DESC
    LIMIT :limit
    """
)
_LAST_CALL_ID = Statement(
    """
    SELECT id FROM queue_entry
    WHERE restaurant_id = :restaurant_id AND called_at IS NOT NULL
    ORDER BY called_at DESC, token_number DESC
    LIMIT 1
    """
)
# Of the parties that joined since :since (queue_entry_created_idx), how many got how far.
_DAY_COUNTS = Statement(
    """
    SELECT count(*) AS joined,
           sum(CASE WHEN called_at IS NOT NULL THEN 1 ELSE 0 END) AS called,
           sum(CASE WHEN status = 'seated' THEN 1 ELSE 0 END) AS seated,
           sum(CASE WHEN status = 'no_show' THEN 1 ELSE 0 END) AS no_shows,
           sum(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS cancelled
    FROM queue_entry
    WHERE restaurant_id = :restaurant_id AND created_at >= :since
    """
)
# Orders the dashboard's call-next presses of one restaurant (SQLite: BEGIN IMMEDIATE already has).
# NO KEY UPDATE, not UPDATE: joins take KEY SHARE on the restaurant row (their foreign key) and must not
# wait behind a press.
_LOCK_RESTAURANT = {
    "postgresql": text("SELECT id FROM restaurant WHERE id = :restaurant_id FOR NO KEY UPDATE"),
    "sqlite": text("SELECT id FROM restaurant WHERE id = :restaurant_id"),
}


async def recent_call_times(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, since: datetime, limit: int
) -> list[datetime]:
    """When the latest ``limit`` calls since ``since`` were made, newest first."""
    params = {"restaurant_id": str(restaurant_id), "since": moment(connection, since), "limit": limit}
    rows = (await connection.execute(_RECENT_CALL_TIMES.on(connection), params)).scalars().all()
    return [datetime_from_row(value) for value in rows]


async def last_called(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, limit: int
) -> list[CalledToken]:
    params = {"restaurant_id": str(restaurant_id), "limit": limit}
    rows = (await connection.execute(_LAST_CALLED.on(connection), params)).mappings().all()
    return [CalledToken.from_row(row) for row in rows]


async def last_call_id(*, connection: AsyncConnection, restaurant_id: uuid.UUID) -> uuid.UUID | None:
    """The entry called most recently: what a dashboard saw last, to tell whether someone called since."""
    params = {"restaurant_id": str(restaurant_id)}
    value = (await connection.execute(_LAST_CALL_ID.on(connection), params)).scalar_one_or_none()
    return None if value is None else uuid.UUID(str(value))


async def lock_calls(*, connection: AsyncConnection, restaurant_id: uuid.UUID) -> None:
    """Until this transaction ends, other dashboard calls of this restaurant wait (the API's do not)."""
    statement = _LOCK_RESTAURANT[connection.dialect.name]
    await connection.execute(statement, {"restaurant_id": str(restaurant_id)})


async def day_counts(*, connection: AsyncConnection, restaurant_id: uuid.UUID, since: datetime) -> DayCounts:
    params = {"restaurant_id": str(restaurant_id), "since": moment(connection, since)}
    row = (await connection.execute(_DAY_COUNTS.on(connection), params)).mappings().one()
    return DayCounts.from_row(row)
