"""Call-next: claim the lowest waiting token (that fits a table) and record its `called` event.

PostgreSQL: ONE statement, the function ``waitline_call_next`` (store/sql/). SQLite: the same steps in
``_call_next_sqlite``, under the write lock that ``BEGIN IMMEDIATE`` took.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain import Actor, Entry, Event, EventDraft, EventType
from waitline.domain.event import encode_details
from waitline.store import events
from waitline.store.driver import fetch_row
from waitline.store.statement import Statement, is_postgresql

_CALL_NEXT_POSTGRESQL = Statement(
    """
    SELECT *, NULL AS position FROM waitline_call_next(
        CAST(:restaurant_id AS uuid), CAST(:max_party_size AS integer), :actor_kind, :actor_id, :details
    )
    """
)
# The same claim as in waitline_call_next, without the row locks SQLite does not have.
_SQLITE_CLAIM = Statement(
    """
    UPDATE queue_entry SET status = 'called', called_at = {now}
    WHERE id = (
        SELECT id FROM queue_entry
        WHERE restaurant_id = :restaurant_id AND status = 'waiting'
          AND (CAST(:max_party_size AS INTEGER) IS NULL OR party_size <= :max_party_size)
        ORDER BY token_number
        LIMIT 1
    )
    RETURNING id, restaurant_id, token_number, name, mobile, party_size, status,
              created_at, called_at, finished_at, NULL AS position
    """
)
_SQLITE_FIRST_PASSED = Statement(
    """
    SELECT token_number, party_size FROM queue_entry
    WHERE restaurant_id = :restaurant_id AND status = 'waiting' AND token_number < :token_number
    ORDER BY token_number
    LIMIT 1
    """
)


@dataclass(frozen=True)
class Call:
    entry: Entry
    event: Event


def passed_over_reason(*, called: int, passed: int, passed_party_size: int, table_size: int | None) -> str:
    """Why a later token went first (PostgreSQL's twin writes the same words with format())."""
    return (
        f"called #{called} before #{passed}: "
        f"a party of {passed_party_size} does not fit a table of {table_size}"
    )


def _draft(entry: Entry, actor: Actor, reason: str | None, details: Mapping[str, Any] | None) -> EventDraft:
    return EventDraft(
        EventType.CALLED,
        actor,
        entry_id=entry.id,
        token_number=entry.token_number,
        reason=reason,
        details=details,
    )


async def call_next(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, max_party_size: int | None, actor: Actor
) -> Call | None:
    """The party called, with its event; None when nobody (that fits a table of ``max_party_size``) waits."""
    details = {"table_size": max_party_size} if max_party_size is not None else None
    params = {
        "restaurant_id": str(restaurant_id),
        "max_party_size": max_party_size,
        "actor_kind": actor.kind.value,
        "actor_id": actor.id,
        "details": encode_details(details),
    }
    if not is_postgresql(connection):
        return await _call_next_sqlite(connection, params, actor, details)
    row = await fetch_row(connection, _CALL_NEXT_POSTGRESQL, params)
    if row is None:
        return None
    entry = Entry.from_row(row)
    event = Event.recorded(
        _draft(entry, actor, row["reason"], details),
        restaurant_id=restaurant_id,
        seq=row["event_seq"],
        at=row["event_at"],
        prev_hash=row["event_prev_hash"],
        hash=row["event_hash"],
    )
    return Call(entry, event)


async def _call_next_sqlite(
    connection: AsyncConnection, params: dict[str, Any], actor: Actor, details: Mapping[str, Any] | None
) -> Call | None:
    row = (await connection.execute(_SQLITE_CLAIM.on(connection), params)).mappings().first()
    if row is None:
        return None
    entry = Entry.from_row(row)
    passed = (
        await connection.execute(
            _SQLITE_FIRST_PASSED.on(connection), {**params, "token_number": entry.token_number}
        )
    ).first()
    reason = (
        None
        if passed is None
        else passed_over_reason(
            called=entry.token_number,
            passed=passed.token_number,
            passed_party_size=passed.party_size,
            table_size=params["max_party_size"],
        )
    )
    event = await events.append(
        connection=connection, restaurant_id=entry.restaurant_id, draft=_draft(entry, actor, reason, details)
    )
    return Call(entry, event)
