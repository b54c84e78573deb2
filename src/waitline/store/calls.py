"""Call-next: claim the lowest waiting token (that fits a table) and record its `called` event.

PostgreSQL: ONE statement, the function ``waitline_call_next`` (store/sql/); through the staff API, the
bearer token's check is in the same statement. SQLite: the same steps in
``_call_next_sqlite``, under the write lock that ``BEGIN IMMEDIATE`` took.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain import Actor, ApiToken, Entry, Event, EventDraft, EventType
from waitline.domain.event import encode_details
from waitline.domain.rows import as_uuid
from waitline.store import events, tokens
from waitline.store.driver import fetch_row
from waitline.store.statement import Statement, is_postgresql

_CALL_NEXT_POSTGRESQL = Statement(
    """
    SELECT *, NULL AS position FROM waitline_call_next(
        CAST(:restaurant_id AS uuid), CAST(:max_party_size AS integer), :actor_kind, :actor_id, :details
    )
    """
)
# Through the staff API: the bearer token's check and the claim in ONE statement (one round trip, not a
# lookup and then the claim). The token is the row api_token's primary key finds (or none); the claim gets
# the restaurant only when the token is that restaurant's, and waitline_call_next claims nothing for a NULL
# restaurant (no counter row). So exactly one row comes back: token_id NULL for an unknown or revoked token,
# token_restaurant_id another restaurant's for a token of elsewhere, id NULL when nobody (fitting) waits.
_CALL_NEXT_BY_TOKEN_POSTGRESQL = Statement(
    """
    SELECT c.*, NULL AS position, t.id AS token_id, t.restaurant_id AS token_restaurant_id
    FROM (SELECT CAST(:restaurant_id AS uuid) AS restaurant_id) AS asked
    LEFT JOIN api_token t ON t.token_hash = :token_hash AND t.revoked_at IS NULL
    LEFT JOIN LATERAL waitline_call_next(
        CASE WHEN t.restaurant_id = asked.restaurant_id THEN asked.restaurant_id END,
        CAST(:max_party_size AS integer), 'api_token', CAST(t.id AS text), :details
    ) AS c ON true
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


@dataclass(frozen=True)
class TokenCall:
    """Call-next as a bearer token: the token (None: unknown or revoked) and, when it is the restaurant's
    own, the call (None: nobody fitting waits). Nothing was claimed unless ``call`` is set."""

    token: ApiToken | None
    call: Call | None


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


def _details(max_party_size: int | None) -> Mapping[str, Any] | None:
    return {"table_size": max_party_size} if max_party_size is not None else None


def _params(restaurant_id: uuid.UUID, max_party_size: int | None, actor: Actor) -> dict[str, Any]:
    return {
        "restaurant_id": str(restaurant_id),
        "max_party_size": max_party_size,
        "actor_kind": actor.kind.value,
        "actor_id": actor.id,
        "details": encode_details(_details(max_party_size)),
    }


def _call_of(
    row: Mapping[str, Any], restaurant_id: uuid.UUID, actor: Actor, max_party_size: int | None
) -> Call:
    entry = Entry.from_row(row)
    event = Event.recorded(
        _draft(entry, actor, row["reason"], _details(max_party_size)),
        restaurant_id=restaurant_id,
        seq=row["event_seq"],
        at=row["event_at"],
        prev_hash=row["event_prev_hash"],
        hash=row["event_hash"],
    )
    return Call(entry, event)


async def call_next(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, max_party_size: int | None, actor: Actor
) -> Call | None:
    """The party called, with its event; None when nobody (that fits a table of ``max_party_size``) waits."""
    params = _params(restaurant_id, max_party_size, actor)
    if not is_postgresql(connection):
        return await _call_next_sqlite(connection, params, actor, _details(max_party_size))
    row = await fetch_row(connection, _CALL_NEXT_POSTGRESQL, params)
    return None if row is None else _call_of(row, restaurant_id, actor, max_party_size)


async def call_next_by_token(
    *, connection: AsyncConnection, token_hash: str, restaurant_id: uuid.UUID, max_party_size: int | None
) -> TokenCall:
    """Call next as the token whose secret hashes to ``token_hash``, if it is ``restaurant_id``'s; in one
    statement on PostgreSQL (the check and the claim), in this transaction on SQLite."""
    if not is_postgresql(connection):
        token = await tokens.token_by_hash(connection=connection, token_hash=token_hash)
        if token is None or token.restaurant_id != restaurant_id:
            return TokenCall(token, None)
        actor = Actor.api_token(token.id)
        params = _params(restaurant_id, max_party_size, actor)
        return TokenCall(token, await _call_next_sqlite(connection, params, actor, _details(max_party_size)))
    params = {
        "token_hash": token_hash,
        "restaurant_id": str(restaurant_id),
        "max_party_size": max_party_size,
        "details": encode_details(_details(max_party_size)),
    }
    row = await fetch_row(connection, _CALL_NEXT_BY_TOKEN_POSTGRESQL, params)
    if row is None or row["token_id"] is None:
        return TokenCall(None, None)
    token = ApiToken(id=as_uuid(row["token_id"]), restaurant_id=as_uuid(row["token_restaurant_id"]))
    if row["id"] is None:
        return TokenCall(token, None)
    return TokenCall(token, _call_of(row, restaurant_id, Actor.api_token(token.id), max_party_size))


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
