"""Every SQL statement waitline runs, by name. Rows come back as domain values; constraint names as errors.

Each function takes an open connection: the service that calls it owns the transaction. Statements are
written once, with ``{now}`` and ``{skip_locked}`` filled in per dialect; SQLite ids are canonical UUID text.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain import (
    AlreadyInQueue,
    Entry,
    EntryNotFound,
    IdempotencyKeyReused,
    JoinRequest,
    QueueClosed,
    QueueSummary,
    Restaurant,
    RestaurantNotFound,
    SlugTaken,
    Status,
    TransitionRule,
)
from waitline.ratelimit import Decision, LimitCheck, RateLimited, gcra, most_restrictive

_DIALECT_FILLERS = {
    "postgresql": {"{now}": "now()", "{skip_locked}": "FOR UPDATE SKIP LOCKED"},
    # SQLite has no row locks: the transaction already holds the database's write lock (BEGIN IMMEDIATE).
    "sqlite": {"{now}": "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", "{skip_locked}": ""},
}


class Statement:
    """One SQL text, rendered once per dialect."""

    def __init__(self, template: str, *expanding: str) -> None:
        self._by_dialect: dict[str, TextClause] = {}
        for dialect, fillers in _DIALECT_FILLERS.items():
            sql = template
            for marker, value in fillers.items():
                sql = sql.replace(marker, value)
            clause = text(sql)
            if expanding:
                clause = clause.bindparams(*(bindparam(name, expanding=True) for name in expanding))
            self._by_dialect[dialect] = clause

    def on(self, connection: AsyncConnection) -> TextClause:
        return self._by_dialect[connection.dialect.name]


# --- constraint names -> domain errors -------------------------------------------------------------------

# SQLite reports the columns of a failed UNIQUE constraint, not its name; this maps them back.
_SQLITE_UNIQUE_COLUMNS = {
    "restaurant.slug": "restaurant_slug_key",
    "queue_entry.restaurant_id, queue_entry.idempotency_key": "queue_entry_idempotency_key_key",
    "queue_entry.restaurant_id, queue_entry.token_number": "queue_entry_token_key",
    "queue_entry.restaurant_id, queue_entry.mobile": "queue_entry_active_mobile_key",
}


class DuplicateIdempotencyKey(Exception):
    """Two copies of one request raced past the counter lock: read the winner (see services.join)."""


_CONSTRAINT_ERRORS: Mapping[str, type[Exception]] = {
    "restaurant_slug_key": SlugTaken,
    "queue_entry_idempotency_key_key": DuplicateIdempotencyKey,
    # Only reachable if the check under the counter lock were skipped: the index is the backstop.
    "queue_entry_active_mobile_key": AlreadyInQueue,
}


def constraint_name(error: IntegrityError) -> str | None:
    name = getattr(error.orig, "constraint_name", None)
    if name is None and error.orig is not None:
        # asyncpg's exception sits behind SQLAlchemy's adapter.
        name = getattr(getattr(error.orig, "__cause__", None), "constraint_name", None)
    if name is None:
        message = str(error.orig)
        prefix = "UNIQUE constraint failed: "
        if message.startswith(prefix):
            name = _SQLITE_UNIQUE_COLUMNS.get(message[len(prefix) :])
    return name


def _domain_error(error: IntegrityError) -> Exception:
    name = constraint_name(error)
    error_type = _CONSTRAINT_ERRORS.get(name or "")
    return error_type() if error_type else error


# --- restaurants ------------------------------------------------------------------------------------------

_RESTAURANT_COLUMNS = "id, slug, name, queue_open, default_region, created_at"

_INSERT_RESTAURANT = Statement(
    f"""
    INSERT INTO restaurant (id, slug, name, default_region)
    VALUES (:id, :slug, :name, :default_region)
    RETURNING {_RESTAURANT_COLUMNS}
    """
)
# Created with its restaurant, in the same transaction: a restaurant without a counter cannot exist.
_INSERT_TOKEN_SEQUENCE = Statement("INSERT INTO token_sequence (restaurant_id) VALUES (:restaurant_id)")
_RESTAURANT_BY_SLUG = Statement(f"SELECT {_RESTAURANT_COLUMNS} FROM restaurant WHERE slug = :slug")
_RESTAURANT_BY_ID = Statement(f"SELECT {_RESTAURANT_COLUMNS} FROM restaurant WHERE id = :id")
_SET_QUEUE_OPEN = Statement(
    f"UPDATE restaurant SET queue_open = :queue_open WHERE id = :id RETURNING {_RESTAURANT_COLUMNS}"
)


async def create_restaurant(
    *, connection: AsyncConnection, slug: str, name: str, default_region: str | None
) -> Restaurant:
    params = {"id": str(uuid.uuid4()), "slug": slug, "name": name, "default_region": default_region}
    try:
        row = (await connection.execute(_INSERT_RESTAURANT.on(connection), params)).mappings().one()
    except IntegrityError as error:
        raise _domain_error(error) from None
    await connection.execute(_INSERT_TOKEN_SEQUENCE.on(connection), {"restaurant_id": params["id"]})
    return Restaurant.from_row(row)


async def get_restaurant_by_slug(*, connection: AsyncConnection, slug: str) -> Restaurant:
    row = (await connection.execute(_RESTAURANT_BY_SLUG.on(connection), {"slug": slug})).mappings().first()
    if row is None:
        raise RestaurantNotFound()
    return Restaurant.from_row(row)


async def get_restaurant(*, connection: AsyncConnection, restaurant_id: uuid.UUID) -> Restaurant:
    row = (
        (await connection.execute(_RESTAURANT_BY_ID.on(connection), {"id": str(restaurant_id)}))
        .mappings()
        .first()
    )
    if row is None:
        raise RestaurantNotFound()
    return Restaurant.from_row(row)


async def set_queue_open(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, queue_open: bool
) -> Restaurant:
    params = {"id": str(restaurant_id), "queue_open": queue_open}
    row = (await connection.execute(_SET_QUEUE_OPEN.on(connection), params)).mappings().first()
    if row is None:
        raise RestaurantNotFound()
    return Restaurant.from_row(row)


# --- entries ----------------------------------------------------------------------------------------------

_ENTRY_COLUMNS = (
    "e.id, e.restaurant_id, e.token_number, e.name, e.mobile, e.party_size, e.status, "
    "e.created_at, e.called_at, e.finished_at"
)
# 1-based place among the waiting parties of the restaurant; the partial index answers it.
_POSITION = """
    CASE WHEN e.status = 'waiting' THEN (
        SELECT count(*) FROM queue_entry w
        WHERE w.restaurant_id = e.restaurant_id AND w.status = 'waiting' AND w.token_number <= e.token_number
    ) END AS position
"""

_JOIN_POSTGRESQL = Statement(
    """
    SELECT * FROM waitline_join(
        :slug, CAST(:entry_id AS uuid), :name, :mobile, :party_size, :idempotency_key, :fingerprint,
        :now, :limit_keys, :limit_intervals, :limit_tolerances
    )
    """
)

# The SQLite join: the same steps as the PostgreSQL function, under the write lock BEGIN IMMEDIATE took.
_SQLITE_RESTAURANT_FOR_JOIN = Statement("SELECT id, queue_open FROM restaurant WHERE slug = :slug")
_ENTRY_BY_KEY = Statement(
    f"""
    SELECT {_ENTRY_COLUMNS}, e.request_fingerprint, {_POSITION}
    FROM queue_entry e JOIN restaurant r ON r.id = e.restaurant_id
    WHERE r.slug = :slug AND e.idempotency_key = :idempotency_key
    """
)
_SQLITE_MOBILE_IS_ACTIVE = Statement(
    """
    SELECT 1 FROM queue_entry
    WHERE restaurant_id = :restaurant_id AND mobile = :mobile AND status IN ('waiting', 'called')
    """
)
_SQLITE_RATE_LIMIT_TATS = Statement("SELECT key, tat FROM rate_limit WHERE key IN :keys", "keys")
_SQLITE_SET_RATE_LIMIT_TAT = Statement(
    "INSERT INTO rate_limit (key, tat) VALUES (:key, :tat) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat"
)
_SQLITE_BUMP_COUNTER = Statement(
    """
    UPDATE token_sequence SET last_token = last_token + 1
    WHERE restaurant_id = :restaurant_id
    RETURNING last_token
    """
)
_SQLITE_INSERT_ENTRY = Statement(
    """
    INSERT INTO queue_entry (id, restaurant_id, token_number, name, mobile, party_size, status,
                             idempotency_key, request_fingerprint)
    VALUES (:entry_id, :restaurant_id, :token_number, :name, :mobile, :party_size, 'waiting',
            :idempotency_key, :fingerprint)
    """
)
_ENTRY_BY_ID = Statement(
    f"""
    SELECT {_ENTRY_COLUMNS}, {_POSITION}
    FROM queue_entry e WHERE e.id = :entry_id AND e.restaurant_id = :restaurant_id
    """
)
_ENTRY_BY_SLUG = Statement(
    f"""
    SELECT {_ENTRY_COLUMNS}, {_POSITION}
    FROM queue_entry e JOIN restaurant r ON r.id = e.restaurant_id
    WHERE e.id = :entry_id AND r.slug = :slug
    """
)


@dataclass(frozen=True)
class JoinOutcome:
    entry: Entry
    created: bool
    # The rate-limit decisions this join was counted under (empty for a replay or without limits).
    decisions: list[Decision]


async def join(
    *,
    connection: AsyncConnection,
    request: JoinRequest,
    limit_checks: Sequence[LimitCheck] = (),
    now: float = 0.0,
) -> JoinOutcome:
    """Take the next token and insert the entry, or find the entry this idempotency key already made.

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
        "limit_keys": [check.key for check in limit_checks],
        "limit_intervals": [check.policy.interval for check in limit_checks],
        "limit_tolerances": [check.policy.tolerance for check in limit_checks],
    }
    try:
        if connection.dialect.name == "postgresql":
            row, decisions = await _join_postgresql(connection, params, limit_checks)
        else:
            row, decisions = await _join_sqlite(connection, params, limit_checks)
    except IntegrityError as error:
        raise _domain_error(error) from None
    _check_fingerprint(row, params["fingerprint"])
    return JoinOutcome(Entry.from_row(row), row["outcome"] == "created", decisions)


def _check_fingerprint(row: Mapping[Any, Any], fingerprint: str | None) -> None:
    if row["outcome"] == "replayed" and row["request_fingerprint"] != fingerprint:
        raise IdempotencyKeyReused()


async def find_replay(*, connection: AsyncConnection, request: JoinRequest) -> Entry | None:
    """The entry this request's idempotency key already made, if any (checked against its fingerprint)."""
    if request.idempotency_key is None:
        return None
    params = {"slug": request.slug, "idempotency_key": request.idempotency_key}
    row = (await connection.execute(_ENTRY_BY_KEY.on(connection), params)).mappings().first()
    if row is None:
        return None
    _check_fingerprint({**row, "outcome": "replayed"}, request.fingerprint)
    return Entry.from_row(row)


def _decisions(
    checks: Sequence[LimitCheck], *, allowed: bool, tats: Sequence[float], now: float
) -> list[Decision]:
    return [
        Decision.from_tat(policy=check.policy, allowed=allowed, tat=tat, now=now)
        for check, tat in zip(checks, tats, strict=True)
    ]


def _rate_limited(decisions: list[Decision]) -> RateLimited:
    decision = most_restrictive(decisions)
    assert decision is not None
    return RateLimited(decision)


def _refusal(outcome: str, decisions: list[Decision]) -> Exception | None:
    if outcome == "closed":
        return QueueClosed()
    if outcome == "already_queued":
        return AlreadyInQueue()
    if outcome == "rate_limited":
        return _rate_limited(decisions)
    return None


async def _join_postgresql(
    connection: AsyncConnection, params: dict[str, Any], checks: Sequence[LimitCheck]
) -> tuple[Mapping[Any, Any], list[Decision]]:
    row = (await connection.execute(_JOIN_POSTGRESQL.on(connection), params)).mappings().first()
    if row is None:
        raise RestaurantNotFound()
    tats = row["limit_tats"]
    decisions = (
        _decisions(checks, allowed=row["outcome"] != "rate_limited", tats=tats, now=params["now"])
        if tats
        else []
    )
    refusal = _refusal(row["outcome"], decisions)
    if refusal is not None:
        raise refusal
    return row, decisions


async def _join_sqlite(
    connection: AsyncConnection, params: dict[str, Any], checks: Sequence[LimitCheck]
) -> tuple[Mapping[Any, Any], list[Decision]]:
    restaurant = (
        (await connection.execute(_SQLITE_RESTAURANT_FOR_JOIN.on(connection), params)).mappings().first()
    )
    if restaurant is None:
        raise RestaurantNotFound()
    params["restaurant_id"] = restaurant["id"]
    if params["idempotency_key"] is not None:
        existing = (await connection.execute(_ENTRY_BY_KEY.on(connection), params)).mappings().first()
        if existing is not None:
            return {**existing, "outcome": "replayed"}, []
    if not restaurant["queue_open"]:
        raise QueueClosed()
    if (await connection.execute(_SQLITE_MOBILE_IS_ACTIVE.on(connection), params)).first() is not None:
        raise AlreadyInQueue()
    decisions = await _hit_limits_sqlite(connection, checks, now=params["now"])
    params["token_number"] = (
        await connection.execute(_SQLITE_BUMP_COUNTER.on(connection), params)
    ).scalar_one()
    await connection.execute(_SQLITE_INSERT_ENTRY.on(connection), params)
    created = (await connection.execute(_ENTRY_BY_ID.on(connection), params)).mappings().one()
    return {**created, "outcome": "created", "request_fingerprint": params["fingerprint"]}, decisions


async def _hit_limits_sqlite(
    connection: AsyncConnection, checks: Sequence[LimitCheck], *, now: float
) -> list[Decision]:
    """GCRA as in ``waitline_hit_limits``; the write lock makes the read-then-write atomic."""
    if not checks:
        return []
    keys = [check.key for check in checks]
    rows = (await connection.execute(_SQLITE_RATE_LIMIT_TATS.on(connection), {"keys": keys})).all()
    stored: dict[str, float] = {row.key: row.tat for row in rows}
    outcomes = [gcra(tat=stored.get(check.key), now=now, policy=check.policy) for check in checks]
    allowed = all(ok for ok, _ in outcomes)
    if not allowed:
        tats = [stored.get(check.key, now) for check in checks]
        raise _rate_limited(_decisions(checks, allowed=False, tats=tats, now=now))
    for check, (_, tat) in zip(checks, outcomes, strict=True):
        await connection.execute(_SQLITE_SET_RATE_LIMIT_TAT.on(connection), {"key": check.key, "tat": tat})
    return _decisions(checks, allowed=True, tats=[tat for _, tat in outcomes], now=now)


# Rows a join holds right now are left for the next sweep (and deleted in key order, as joins lock them).
_HIT_LIMITS_POSTGRESQL = Statement(
    "SELECT allowed, tats FROM waitline_hit_limits(:now, :keys, :intervals, :tolerances)"
)


async def hit_limits(
    *, connection: AsyncConnection, checks: Sequence[LimitCheck], now: float
) -> list[Decision]:
    """Count one request against ``checks``, all or none; raises RateLimited when any refuses."""
    if connection.dialect.name != "postgresql":
        return await _hit_limits_sqlite(connection, checks, now=now)
    params = {
        "now": now,
        "keys": [check.key for check in checks],
        "intervals": [check.policy.interval for check in checks],
        "tolerances": [check.policy.tolerance for check in checks],
    }
    row = (await connection.execute(_HIT_LIMITS_POSTGRESQL.on(connection), params)).one()
    decisions = _decisions(checks, allowed=row.allowed, tats=row.tats, now=now)
    if not row.allowed:
        raise _rate_limited(decisions)
    return decisions


_SWEEP_RATE_LIMITS = Statement(
    """
    DELETE FROM rate_limit WHERE key IN (
        SELECT key FROM rate_limit WHERE tat < :now ORDER BY key {skip_locked}
    )
    """
)


async def sweep_rate_limits(*, connection: AsyncConnection, now: float) -> int:
    """Delete the rate-limit rows whose allowance is whole again (they mean the same as no row)."""
    result = await connection.execute(_SWEEP_RATE_LIMITS.on(connection), {"now": now})
    return int(getattr(result, "rowcount", 0) or 0)


async def get_entry(*, connection: AsyncConnection, restaurant_id: uuid.UUID, entry_id: uuid.UUID) -> Entry:
    params = {"restaurant_id": str(restaurant_id), "entry_id": str(entry_id)}
    row = (await connection.execute(_ENTRY_BY_ID.on(connection), params)).mappings().first()
    if row is None:
        raise EntryNotFound()
    return Entry.from_row(row)


async def get_entry_by_slug(*, connection: AsyncConnection, slug: str, entry_id: uuid.UUID) -> Entry:
    params = {"slug": slug, "entry_id": str(entry_id)}
    row = (await connection.execute(_ENTRY_BY_SLUG.on(connection), params)).mappings().first()
    if row is None:
        raise EntryNotFound()
    return Entry.from_row(row)


# Claims the lowest waiting token that fits, in ONE statement.
# - `id = (...)`, not `id IN (...)`: the subquery runs once as an InitPlan, so exactly one row is claimed.
# - FOR UPDATE SKIP LOCKED: a row another caller is claiming right now is passed over, not waited for, and
#   a row that changed since our snapshot is re-checked against `status = 'waiting'` before it is locked.
_CLAIM_NEXT = Statement(
    """
    UPDATE queue_entry SET status = 'called', called_at = {now}
    WHERE id = (
        SELECT id FROM queue_entry
        WHERE restaurant_id = :restaurant_id AND status = 'waiting'
          AND (CAST(:max_party_size AS INTEGER) IS NULL OR party_size <= :max_party_size)
        ORDER BY token_number
        LIMIT 1
        {skip_locked}
    )
    RETURNING id, restaurant_id, token_number, name, mobile, party_size, status,
              created_at, called_at, finished_at, NULL AS position
    """
)


async def claim_next(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, max_party_size: int | None
) -> Entry | None:
    params = {"restaurant_id": str(restaurant_id), "max_party_size": max_party_size}
    row = (await connection.execute(_CLAIM_NEXT.on(connection), params)).mappings().first()
    return Entry.from_row(row) if row is not None else None


# Source states sit in the WHERE clause: of two staff racing on one entry, one updates it, one sees no row.
_TRANSITION = Statement(
    """
    UPDATE queue_entry SET status = :target, finished_at = {now}
    WHERE id = :entry_id AND restaurant_id = :restaurant_id AND status IN :sources
    RETURNING id, restaurant_id, token_number, name, mobile, party_size, status,
              created_at, called_at, finished_at, NULL AS position
    """,
    "sources",
)


async def apply_transition(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, entry_id: uuid.UUID, rule: TransitionRule
) -> Entry | None:
    """The entry after the change, or None when it does not exist here or its status does not allow it."""
    params = {
        "restaurant_id": str(restaurant_id),
        "entry_id": str(entry_id),
        "target": rule.target.value,
        "sources": sorted(status.value for status in rule.sources),
    }
    row = (await connection.execute(_TRANSITION.on(connection), params)).mappings().first()
    return Entry.from_row(row) if row is not None else None


# Positions over the whole restaurant (a running count of waiting rows), then the latest :limit tokens.
_LIST_ENTRIES = Statement(
    f"""
    SELECT * FROM (
        SELECT {_ENTRY_COLUMNS},
               CASE WHEN e.status = 'waiting' THEN
                   sum(CASE WHEN e.status = 'waiting' THEN 1 ELSE 0 END)
                       OVER (ORDER BY e.token_number ROWS UNBOUNDED PRECEDING)
               END AS position
        FROM queue_entry e
        WHERE e.restaurant_id = :restaurant_id AND e.status IN :statuses
    ) listed
    ORDER BY token_number DESC
    LIMIT :limit
    """,
    "statuses",
)


async def list_entries(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, statuses: Iterable[Status], limit: int
) -> list[Entry]:
    params = {
        "restaurant_id": str(restaurant_id),
        "statuses": sorted(status.value for status in statuses),
        "limit": limit,
    }
    rows = (await connection.execute(_LIST_ENTRIES.on(connection), params)).mappings().all()
    return [Entry.from_row(row) for row in reversed(rows)]


_SUMMARY = Statement(
    """
    SELECT
        (SELECT count(*) FROM queue_entry w
         WHERE w.restaurant_id = :restaurant_id AND w.status = 'waiting') AS waiting_count,
        (SELECT c.token_number FROM queue_entry c
         WHERE c.restaurant_id = :restaurant_id AND c.called_at IS NOT NULL
         ORDER BY c.called_at DESC, c.token_number DESC LIMIT 1) AS now_serving
    """
)


async def queue_summary(*, connection: AsyncConnection, restaurant: Restaurant) -> QueueSummary:
    params = {"restaurant_id": str(restaurant.id)}
    row = (await connection.execute(_SUMMARY.on(connection), params)).mappings().one()
    return QueueSummary(
        restaurant=restaurant,
        waiting_count=int(row["waiting_count"]),
        now_serving=None if row["now_serving"] is None else int(row["now_serving"]),
    )


# --- staff API tokens -------------------------------------------------------------------------------------

_INSERT_API_TOKEN = Statement(
    "INSERT INTO api_token (id, restaurant_id, token_hash) VALUES (:id, :restaurant_id, :token_hash)"
)
_RESTAURANT_FOR_TOKEN = Statement("SELECT restaurant_id FROM api_token WHERE token_hash = :token_hash")


async def create_api_token(*, connection: AsyncConnection, restaurant_id: uuid.UUID, token_hash: str) -> None:
    params = {"id": str(uuid.uuid4()), "restaurant_id": str(restaurant_id), "token_hash": token_hash}
    await connection.execute(_INSERT_API_TOKEN.on(connection), params)


async def restaurant_for_token(*, connection: AsyncConnection, token_hash: str) -> uuid.UUID | None:
    params = {"token_hash": token_hash}
    value = (await connection.execute(_RESTAURANT_FOR_TOKEN.on(connection), params)).scalar_one_or_none()
    return None if value is None else uuid.UUID(str(value))
