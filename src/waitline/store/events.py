"""The event log: appending to it, reading it in seq order, and where each restaurant's log ends.

Every change of a restaurant's queue appends one event in its own transaction. A use case first calls
``lock_restaurant``: the restaurant's counter row lock orders every change of that restaurant, so events
are numbered in the order the changes commit, without gaps, and tokens likewise. On PostgreSQL the
append is the function ``waitline_append_event`` (store/sql/), the one place events are sealed there; on
SQLite its Python twin below, under the write lock that ``BEGIN IMMEDIATE`` took.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain import ChainHead, Event, EventDraft, RestaurantNotFound
from waitline.domain.event import encode_details
from waitline.store.statement import Statement, is_postgresql
from waitline.store.values import moment

EVENT_COLUMNS = (
    "restaurant_id, seq, type, entry_id, token_number, actor_kind, actor_id, reason, details, at, "
    "prev_hash, hash"
)

_LOCK_RESTAURANT = Statement(
    "SELECT last_seq, last_hash FROM token_sequence WHERE restaurant_id = :restaurant_id {for_update}"
)
_APPEND_POSTGRESQL = Statement(
    f"""
    SELECT {EVENT_COLUMNS} FROM waitline_append_event(
        CAST(:restaurant_id AS uuid), :type, CAST(:entry_id AS uuid), :token_number, :actor_kind, :actor_id,
        :reason, :details, :last_token
    )
    """
)
_INSERT_SQLITE = Statement(
    f"""
    INSERT INTO queue_event ({EVENT_COLUMNS})
    VALUES (:restaurant_id, :seq, :type, :entry_id, :token_number, :actor_kind, :actor_id, :reason, :details,
            :at, :prev_hash, :hash)
    """
)
_ADVANCE_HEAD_SQLITE = Statement(
    """
    UPDATE token_sequence
    SET last_seq = :seq, last_hash = :hash, last_token = coalesce(:last_token, last_token),
        waiting = waiting + CASE
            WHEN :type = 'joined' THEN 1
            WHEN :type = 'called' THEN -1
            WHEN :type IN ('left', 'cancelled') THEN coalesce((
                SELECT CASE WHEN e.called_at IS NULL THEN -1 ELSE 0 END
                FROM queue_entry e WHERE e.id = :entry_id
            ), 0)
            ELSE 0
        END
    WHERE restaurant_id = :restaurant_id
    """
)
_PAGE = Statement(
    f"""
    SELECT {EVENT_COLUMNS} FROM queue_event
    WHERE restaurant_id = :restaurant_id AND seq > :after
    ORDER BY seq
    LIMIT :limit
    """
)
# The counter row holds the log's head: every append updates it in the same transaction.
_HEADS = Statement(
    """
    SELECT restaurant_id, last_seq, last_hash FROM token_sequence WHERE restaurant_id IN :restaurant_ids
    """,
    "restaurant_ids",
)
# The calls a guest saw while waiting (from their `joined` event to their next event) of tokens above
# theirs: the parties that went first although they came later. queue_event_entry_idx finds the bounds.
# The head and what lies above it, in one snapshot: an event stored above the head was never appended.
_TAIL = Statement(
    """
    SELECT s.last_seq, s.last_hash,
           (SELECT min(e.seq) FROM queue_event e
            WHERE e.restaurant_id = s.restaurant_id AND e.seq > s.last_seq) AS beyond
    FROM token_sequence s WHERE s.restaurant_id = :restaurant_id
    """
)
_OVERTAKEN_BY = Statement(
    f"""
    SELECT {EVENT_COLUMNS} FROM queue_event c
    WHERE c.restaurant_id = :restaurant_id AND c.type = 'called' AND c.token_number > :token_number
      AND c.seq > (SELECT j.seq FROM queue_event j WHERE j.entry_id = :entry_id AND j.type = 'joined')
      AND c.seq < coalesce(
          (SELECT min(k.seq) FROM queue_event k WHERE k.entry_id = :entry_id AND k.type <> 'joined'),
          9223372036854775807
      )
    ORDER BY c.seq
    LIMIT :limit
    """
)
_LAST_CALLED_ENTRY = Statement(
    """
    SELECT entry_id FROM queue_event
    WHERE restaurant_id = :restaurant_id AND type = 'called'
    ORDER BY seq DESC
    LIMIT 1
    """
)


async def lock_restaurant(*, connection: AsyncConnection, restaurant_id: uuid.UUID) -> ChainHead:
    """Until this transaction ends, every other change of this restaurant waits (SQLite: BEGIN IMMEDIATE
    already has that effect). Take it before changing anything. Returns the log's head."""
    params = {"restaurant_id": str(restaurant_id)}
    row = (await connection.execute(_LOCK_RESTAURANT.on(connection), params)).first()
    if row is None:
        raise RestaurantNotFound()
    return ChainHead(seq=int(row.last_seq), hash=row.last_hash)


def sqlite_now() -> datetime:
    """Now, at the millisecond precision of SQLite's stored timestamps (the hash covers what is stored)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


async def append(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, draft: EventDraft, last_token: int | None = None
) -> Event:
    """Seal ``draft`` as the restaurant's next event, in the caller's transaction (see ``lock_restaurant``).

    ``last_token``: a join's token, stored on the counter row in the same update as the new head.
    """
    params = {
        "restaurant_id": str(restaurant_id),
        "type": draft.type.value,
        "entry_id": None if draft.entry_id is None else str(draft.entry_id),
        "token_number": draft.token_number,
        "actor_kind": draft.actor.kind.value,
        "actor_id": draft.actor.id,
        "reason": draft.reason,
        "details": encode_details(draft.details),
        "last_token": last_token,
    }
    if is_postgresql(connection):
        row = (await connection.execute(_APPEND_POSTGRESQL.on(connection), params)).mappings().one()
        return Event.from_row(row)
    head = await lock_restaurant(connection=connection, restaurant_id=restaurant_id)
    event = Event.recorded(
        draft, restaurant_id=restaurant_id, seq=head.seq + 1, at=sqlite_now(), prev_hash=head.hash
    )
    sealed = {**params, "seq": event.seq, "at": moment(connection, event.at), "prev_hash": event.prev_hash}
    await connection.execute(_INSERT_SQLITE.on(connection), {**sealed, "hash": event.hash})
    await connection.execute(_ADVANCE_HEAD_SQLITE.on(connection), {**sealed, "hash": event.hash})
    return event


async def page(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, after: int, limit: int
) -> list[Event]:
    """Up to ``limit`` events after seq ``after``, in seq order."""
    params = {"restaurant_id": str(restaurant_id), "after": after, "limit": limit}
    rows = (await connection.execute(_PAGE.on(connection), params)).mappings().all()
    return [Event.from_row(row) for row in rows]


async def heads(
    *, connection: AsyncConnection, restaurant_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, ChainHead]:
    """Where each restaurant's log ends (seq 0 and the genesis hash before its first event)."""
    ids = sorted(str(restaurant_id) for restaurant_id in restaurant_ids)
    if not ids:
        return {}
    result = await connection.execute(_HEADS.on(connection), {"restaurant_ids": ids})
    return {
        uuid.UUID(str(row.restaurant_id)): ChainHead(seq=int(row.last_seq), hash=row.last_hash)
        for row in result
    }


async def tail(*, connection: AsyncConnection, restaurant_id: uuid.UUID) -> tuple[ChainHead, int | None]:
    """The log's head as the counter row says, and the lowest seq stored above it (None: nothing is)."""
    row = (await connection.execute(_TAIL.on(connection), {"restaurant_id": str(restaurant_id)})).first()
    if row is None:
        raise RestaurantNotFound()
    return ChainHead(seq=int(row.last_seq), hash=row.last_hash), None if row.beyond is None else int(
        row.beyond
    )


async def overtaken_by(
    *,
    connection: AsyncConnection,
    restaurant_id: uuid.UUID,
    entry_id: uuid.UUID,
    token_number: int,
    limit: int,
) -> list[Event]:
    params = {
        "restaurant_id": str(restaurant_id),
        "entry_id": str(entry_id),
        "token_number": token_number,
        "limit": limit,
    }
    rows = (await connection.execute(_OVERTAKEN_BY.on(connection), params)).mappings().all()
    return [Event.from_row(row) for row in rows]


async def last_called_entry(*, connection: AsyncConnection, restaurant_id: uuid.UUID) -> uuid.UUID | None:
    """The entry called last, by the log's order: what a dashboard saw last, to tell whether someone called
    since."""
    params = {"restaurant_id": str(restaurant_id)}
    value = (await connection.execute(_LAST_CALLED_ENTRY.on(connection), params)).scalar_one_or_none()
    return None if value is None else uuid.UUID(str(value))
