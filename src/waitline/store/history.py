"""What the queue's history says: the pace of recent calls, the tokens called last, the day's counts.

Read by the pages (estimated waits, the "now serving" board, the staff dashboard). Each function takes an
open connection.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain import CalledToken, DayCounts, datetime_from_row
from waitline.store.statement import Statement
from waitline.store.values import moment

# The log's `called` events, newest first (queue_event_at_idx): the pace of the queue.
_RECENT_CALL_TIMES = Statement(
    """
    SELECT at FROM queue_event
    WHERE restaurant_id = :restaurant_id AND at >= :since AND type = 'called'
    ORDER BY at DESC
    LIMIT :limit
    """
)
# The partial index queue_entry_called_idx (restaurant_id, called_at) WHERE called_at IS NOT NULL serves
# this, newest first: the board shows each token's status now.
_LAST_CALLED = Statement(
    """
    SELECT token_number, status, called_at FROM queue_entry
    WHERE restaurant_id = :restaurant_id AND called_at IS NOT NULL
    ORDER BY called_at DESC, token_number DESC
    LIMIT :limit
    """
)
# What the log recorded since :since (queue_event_at_idx): one count per kind of change.
_DAY_COUNTS = Statement(
    """
    SELECT sum(CASE WHEN type = 'joined' THEN 1 ELSE 0 END) AS joined,
           sum(CASE WHEN type = 'called' THEN 1 ELSE 0 END) AS called,
           sum(CASE WHEN type = 'seated' THEN 1 ELSE 0 END) AS seated,
           sum(CASE WHEN type = 'no_show' THEN 1 ELSE 0 END) AS no_shows,
           sum(CASE WHEN type IN ('cancelled', 'left') THEN 1 ELSE 0 END) AS cancelled
    FROM queue_event
    WHERE restaurant_id = :restaurant_id AND at >= :since
    """
)


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


async def day_counts(*, connection: AsyncConnection, restaurant_id: uuid.UUID, since: datetime) -> DayCounts:
    params = {"restaurant_id": str(restaurant_id), "since": moment(connection, since)}
    row = (await connection.execute(_DAY_COUNTS.on(connection), params)).mappings().one()
    return DayCounts.from_row(row)
