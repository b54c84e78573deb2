"""The join: the next token, the entry and its `joined` event, or the entry an idempotency key already made.

PostgreSQL: ONE statement, the function ``waitline_join`` (store/sql/). SQLite: the same steps in
``_join_sqlite``, under the write lock that ``BEGIN IMMEDIATE`` took.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain import (
    GUEST,
    AlreadyInQueue,
    Entry,
    Event,
    EventDraft,
    EventType,
    IdempotencyKeyReused,
    JoinRequest,
    OutsideHours,
    PartyTooLarge,
    QueueClosed,
    QueueFull,
    RestaurantNotFound,
)
from waitline.domain.hours import is_open
from waitline.domain.location import LocationSettings
from waitline.ratelimit import Decision, LimitCheck
from waitline.store import events
from waitline.store.admin import SETTINGS_COLUMNS
from waitline.store.constraints import domain_error
from waitline.store.driver import fetch_row
from waitline.store.entries import ENTRY_BY_ID, ENTRY_COLUMNS, POSITION
from waitline.store.limits import decisions, hit_limits_sqlite, policy_arrays, rate_limited
from waitline.store.statement import Statement, is_postgresql

_JOIN_POSTGRESQL = Statement(
    """
    SELECT * FROM waitline_join(
        :slug, CAST(:entry_id AS uuid), :name, :mobile, :party_size, :idempotency_key, :fingerprint,
        :now, :keys, :intervals, :tolerances
    )
    """
)
_ENTRY_BY_KEY = Statement(
    f"""
    SELECT {ENTRY_COLUMNS}, e.request_fingerprint, {POSITION}
    FROM queue_entry e JOIN restaurant r ON r.id = e.restaurant_id
    WHERE r.slug = :slug AND e.idempotency_key = :idempotency_key
    """
)
_SQLITE_RESTAURANT = Statement(f"SELECT id, {SETTINGS_COLUMNS} FROM restaurant WHERE slug = :slug")
_SQLITE_WAITING = Statement(
    "SELECT count(*) FROM queue_entry WHERE restaurant_id = :restaurant_id AND status = 'waiting'"
)
_SQLITE_MOBILE_IS_ACTIVE = Statement(
    """
    SELECT 1 FROM queue_entry
    WHERE restaurant_id = :restaurant_id AND mobile = :mobile AND status IN ('waiting', 'called')
    """
)
_SQLITE_LAST_TOKEN = Statement("SELECT last_token FROM token_sequence WHERE restaurant_id = :restaurant_id")
_SQLITE_INSERT_ENTRY = Statement(
    """
    INSERT INTO queue_entry (id, restaurant_id, token_number, name, mobile, party_size, status,
                             idempotency_key, request_fingerprint)
    VALUES (:entry_id, :restaurant_id, :token_number, :name, :mobile, :party_size, 'waiting',
            :idempotency_key, :fingerprint)
    """
)


@dataclass(frozen=True)
class JoinOutcome:
    entry: Entry
    created: bool
    # The rate-limit decisions this join was counted under (empty for a replay or without limits).
    decisions: list[Decision]
    event: Event | None  # the `joined` event of a created entry


def _joined(entry: Entry) -> EventDraft:
    return EventDraft(EventType.JOINED, GUEST, entry_id=entry.id, token_number=entry.token_number)


async def join(
    *,
    connection: AsyncConnection,
    request: JoinRequest,
    limit_checks: Sequence[LimitCheck] = (),
    now: float = 0.0,
) -> JoinOutcome:
    """Take the next token and insert the entry with its event, or find the entry this key already made.

    ``limit_checks`` are counted only for a join that creates an entry, all or none. Raises
    RestaurantNotFound, QueueClosed, AlreadyInQueue, RateLimited, IdempotencyKeyReused, or
    DuplicateIdempotencyKey when a concurrent copy won a race the lock missed.
    """
    params: dict[str, Any] = {
        "slug": request.slug,
        "entry_id": str(uuid.uuid4()),
        "name": request.name,
        "mobile": request.mobile,
        "party_size": request.party_size,
        "idempotency_key": request.idempotency_key,
        "fingerprint": request.fingerprint if request.idempotency_key else None,
        "now": now,
        **policy_arrays(limit_checks),
    }
    try:
        if is_postgresql(connection):
            outcome = await _join_postgresql(connection, params, limit_checks)
        else:
            outcome = await _join_sqlite(connection, params, limit_checks)
    except IntegrityError as error:
        raise domain_error(error) from None
    return outcome


def _check_fingerprint(row: Mapping[Any, Any], fingerprint: str | None) -> None:
    if row["request_fingerprint"] != fingerprint:
        raise IdempotencyKeyReused()


async def find_replay(*, connection: AsyncConnection, request: JoinRequest) -> Entry | None:
    """The entry this request's idempotency key already made, if any (checked against its fingerprint)."""
    if request.idempotency_key is None:
        return None
    params = {"slug": request.slug, "idempotency_key": request.idempotency_key}
    row = (await connection.execute(_ENTRY_BY_KEY.on(connection), params)).mappings().first()
    if row is None:
        return None
    _check_fingerprint(row, request.fingerprint)
    return Entry.from_row(row)


def _refusal(outcome: str, counted: list[Decision]) -> Exception | None:
    if outcome == "closed":
        return QueueClosed()
    if outcome == "too_large":
        return PartyTooLarge()
    if outcome == "outside_hours":
        return OutsideHours()
    if outcome == "full":
        return QueueFull()
    if outcome == "already_queued":
        return AlreadyInQueue()
    if outcome == "rate_limited":
        return rate_limited(counted)
    return None


async def _join_postgresql(
    connection: AsyncConnection, params: dict[str, Any], checks: Sequence[LimitCheck]
) -> JoinOutcome:
    row = await fetch_row(connection, _JOIN_POSTGRESQL, params)
    if row is None:
        raise RestaurantNotFound()
    return outcome_of_row(row, checks, now=params["now"], fingerprint=params["fingerprint"])


def outcome_of_row(
    row: Mapping[str, Any], checks: Sequence[LimitCheck], *, now: float, fingerprint: str | None
) -> JoinOutcome:
    """What a row of ``waitline_join`` (or of ``waitline_join_batch``) says: raises the join's refusal."""
    tats = row["limit_tats"]
    counted = decisions(checks, allowed=row["outcome"] != "rate_limited", tats=tats, now=now) if tats else []
    refusal = _refusal(row["outcome"], counted)
    if refusal is not None:
        raise refusal
    entry = Entry.from_row(row)
    if row["outcome"] == "replayed":
        _check_fingerprint(row, fingerprint)
        return JoinOutcome(entry, False, counted, None)
    event = Event.recorded(
        _joined(entry),
        restaurant_id=entry.restaurant_id,
        seq=row["event_seq"],
        at=row["event_at"],
        prev_hash=row["event_prev_hash"],
        hash=row["event_hash"],
    )
    return JoinOutcome(entry, True, counted, event)


async def _join_sqlite(
    connection: AsyncConnection, params: dict[str, Any], checks: Sequence[LimitCheck]
) -> JoinOutcome:
    restaurant = (await connection.execute(_SQLITE_RESTAURANT.on(connection), params)).mappings().first()
    if restaurant is None:
        raise RestaurantNotFound()
    params["restaurant_id"] = restaurant["id"]
    if params["idempotency_key"] is not None:
        existing = (await connection.execute(_ENTRY_BY_KEY.on(connection), params)).mappings().first()
        if existing is not None:
            _check_fingerprint(existing, params["fingerprint"])
            return JoinOutcome(Entry.from_row(existing), False, [], None)
    settings = LocationSettings.from_row(restaurant)
    if not settings.queue_open:
        raise QueueClosed()
    if settings.max_party_size is not None and params["party_size"] > settings.max_party_size:
        raise PartyTooLarge()
    if not is_open(settings.opening_hours, settings.closed_dates, settings.zone, datetime.now(UTC)):
        raise OutsideHours()
    if (await connection.execute(_SQLITE_MOBILE_IS_ACTIVE.on(connection), params)).first() is not None:
        raise AlreadyInQueue()
    # Counted under the write lock that BEGIN IMMEDIATE took: racing joins are serialised, none overshoots.
    if settings.max_waiting is not None:
        waiting = (await connection.execute(_SQLITE_WAITING.on(connection), params)).scalar_one()
        if waiting >= settings.max_waiting:
            raise QueueFull()
    counted = await hit_limits_sqlite(connection, checks, now=params["now"])
    last_token = (await connection.execute(_SQLITE_LAST_TOKEN.on(connection), params)).scalar_one()
    params["token_number"] = last_token + 1
    await connection.execute(_SQLITE_INSERT_ENTRY.on(connection), params)
    entry = Entry.from_row((await connection.execute(ENTRY_BY_ID.on(connection), params)).mappings().one())
    event = await events.append(
        connection=connection,
        restaurant_id=entry.restaurant_id,
        draft=_joined(entry),
        last_token=entry.token_number,
    )
    return JoinOutcome(entry, True, counted, event)
