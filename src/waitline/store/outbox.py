"""The outbox: messages to guests, enqueued by the events that cause them, claimed and settled by workers.

Messages are written by a trigger on ``queue_event`` (store/sql/waitline_enqueue_messages.sql and its SQLite
twin in migration 0006), in the transaction that appends the event. A worker claims a batch with ONE
statement (``claim``), sends each message, and settles it with a statement that only applies while its claim
still holds: a worker whose lease ran out and whose messages another worker took cannot record over them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain.message import Message, MessageRecord
from waitline.store.statement import Statement, is_postgresql

_MESSAGE_COLUMNS = (
    "id, restaurant_id, entry_id, kind, channel, recipient, attempts, created_at, in_doubt_since"
)
# The first condition lets the planner read the partial index of open messages (outbox_due_idx) only.
_DUE = (
    "c.state IN ('pending', 'sending') AND "
    "((c.state = 'pending' AND c.due_at <= {now}) OR (c.state = 'sending' AND c.lease_until < {now}))"
)

# The claim, in one statement. Due messages in the order they were enqueued; FOR UPDATE SKIP LOCKED lets a
# second worker pass over the rows the first is claiming and take the next ones at once, instead of queueing
# behind its row locks (and then finding them taken). A message whose worker died mid-send is claimable
# again once its lease runs out, and is then "in doubt" (in_doubt_since: when that attempt began) until the
# provider says whether it arrived. A message waits while an earlier one to the same number is still open,
# so one guest's messages go out in order even with several workers (one scheduled for later, untried,
# does not hold the others back). On SQLite the statement runs under
# BEGIN IMMEDIATE (the write lock), which serialises claims as the row locks do on PostgreSQL.
_CLAIM_TEMPLATE = f"""
    UPDATE outbox
    SET state = 'sending', claim = :claim, lease_until = {{lease_until}}, attempt_started_at = {{now}},
        in_doubt_since = CASE WHEN state = 'sending' THEN coalesce(in_doubt_since, attempt_started_at)
                              ELSE in_doubt_since END
    WHERE id IN (
        SELECT c.id FROM outbox c
        WHERE {_DUE}
          AND NOT EXISTS (
              SELECT 1 FROM outbox p
              WHERE p.recipient = c.recipient AND p.id < c.id AND p.state IN ('pending', 'sending')
                AND NOT (p.attempts = 0 AND p.due_at > {{now}})  -- scheduled for later (a reminder)
          )
        ORDER BY c.id
        LIMIT :limit
        {{skip_locked}}
    )
    RETURNING {_MESSAGE_COLUMNS}
"""
_CLAIM_POSTGRESQL = Statement(
    _CLAIM_TEMPLATE.replace("{lease_until}", "now() + :lease_seconds * interval '1 second'")
)
_CLAIM_SQLITE = Statement(
    _CLAIM_TEMPLATE.replace("{lease_until}", "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', :lease_modifier)")
)
# Read first, so that an idle worker does not take SQLite's write lock every time it looks.
_ANY_DUE = Statement(f"SELECT 1 FROM outbox c WHERE {_DUE} LIMIT 1")
_CONTEXT = Statement(
    """
    SELECT o.id, r.name AS restaurant_name, r.slug, e.name, e.token_number, e.status,
           EXISTS (SELECT 1 FROM queue_event c WHERE c.entry_id = o.entry_id AND c.type = 'confirmed')
               AS confirmed,
           coalesce(o.position, (SELECT count(*) FROM queue_entry w
                                 WHERE w.restaurant_id = e.restaurant_id AND w.status = 'waiting'
                                   AND w.token_number <= e.token_number)) AS position,
           o.channel = 'sms' AND EXISTS (
               SELECT 1 FROM sms_opt_out x WHERE x.restaurant_id = o.restaurant_id AND x.mobile = o.recipient
           ) AS opted_out,
           coalesce(g.language, r.default_language) AS language, g.language IS NOT NULL AS chose_language,
           w.body AS own_text, coalesce(t.enabled, true) AS enabled
    FROM outbox o
    JOIN queue_entry e ON e.id = o.entry_id
    JOIN restaurant r ON r.id = o.restaurant_id
    LEFT JOIN guest_language g ON g.entry_id = o.entry_id
    LEFT JOIN message_text t
        ON t.restaurant_id = o.restaurant_id AND t.kind = o.kind AND t.channel = o.channel
    LEFT JOIN message_wording w
        ON w.restaurant_id = o.restaurant_id AND w.kind = o.kind AND w.channel = o.channel
       AND w.language = coalesce(g.language, r.default_language)
    WHERE o.id IN :ids
    """,
    "ids",
)
_SENT = Statement(
    """
    UPDATE outbox
    SET state = 'sent', provider_id = :provider_id, sent_at = {now}, attempts = attempts + :attempted,
        claim = NULL, lease_until = NULL, in_doubt_since = NULL, reason = NULL
    WHERE id = :id AND claim = :claim
    """
)
_RETRY_POSTGRESQL = Statement(
    """
    UPDATE outbox
    SET state = 'pending', due_at = now() + :delay_seconds * interval '1 second', attempts = attempts + 1,
        reason = :reason, claim = NULL, lease_until = NULL,
        in_doubt_since = CASE WHEN :maybe_sent THEN coalesce(in_doubt_since, attempt_started_at) END
    WHERE id = :id AND claim = :claim
    """
)
_RETRY_SQLITE = Statement(
    """
    UPDATE outbox
    SET state = 'pending', due_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', :delay_modifier),
        attempts = attempts + 1, reason = :reason, claim = NULL, lease_until = NULL,
        in_doubt_since = CASE WHEN :maybe_sent THEN coalesce(in_doubt_since, attempt_started_at) END
    WHERE id = :id AND claim = :claim
    """
)
_SETTLE = Statement(
    """
    UPDATE outbox
    SET state = :state, reason = :reason, attempts = attempts + :attempted, claim = NULL, lease_until = NULL
    WHERE id = :id AND claim = :claim
    """
)
# Back to pending, untried: the rest of a batch once the provider said "later" to one of its messages.
_RELEASE = Statement(
    """
    UPDATE outbox SET state = 'pending', claim = NULL, lease_until = NULL WHERE id IN :ids AND claim = :claim
    """,
    "ids",
)
_KNOWN_PROVIDER_IDS = Statement(
    "SELECT provider_id FROM outbox WHERE recipient = :recipient AND provider_id IS NOT NULL"
)
_OLDEST_AGE_POSTGRESQL = Statement(
    "SELECT extract(epoch FROM now() - min(created_at)) FROM outbox WHERE state IN ('pending', 'sending')"
)
_OLDEST_AGE_SQLITE = Statement(
    """
    SELECT (julianday('now') - julianday(min(created_at))) * 86400.0
    FROM outbox WHERE state IN ('pending', 'sending')
    """
)
_FOR_ENTRIES = Statement(
    """
    SELECT id, entry_id, kind, channel, state, attempts, reason, created_at
    FROM outbox WHERE entry_id IN :entry_ids ORDER BY id
    """,
    "entry_ids",
)
# Staff's "resend table ready": once per press (the form's key), while the party is called. Its SMS row is
# written for a number that replied STOP too (the worker skips it): its email and push twins still go.
_RESEND_TEMPLATE = """
    INSERT INTO outbox (restaurant_id, entry_id, kind, channel, recipient, idempotency_key)
    SELECT e.restaurant_id, e.id, 'table_ready', 'sms', e.mobile, :key
    FROM queue_entry e
    WHERE e.id = :entry_id AND e.restaurant_id = :restaurant_id AND e.status = 'called'
    {on_conflict}
"""
_RESEND_POSTGRESQL = Statement(
    _RESEND_TEMPLATE.replace(
        "{on_conflict}",
        "ON CONFLICT (restaurant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
    )
)
_RESEND_SQLITE = Statement(
    _RESEND_TEMPLATE.replace("INSERT INTO", "INSERT OR IGNORE INTO").replace("{on_conflict}", "")
)


@dataclass(frozen=True)
class Context:
    """What a message's text is made of, read when it is sent."""

    restaurant_name: str
    slug: str
    name: str
    token_number: int
    position: int
    opted_out: bool
    status: str
    confirmed: bool
    language: str  # the guest's (else the location's default): the text is written in it
    chose_language: bool  # the guest chose it (the link then opens their page in it)
    own_text: str | None  # the restaurant's text for this kind and channel in that language (None: default)
    enabled: bool  # False: the restaurant switched this message off


def _modifier(seconds: float) -> str:
    return f"{'+' if seconds >= 0 else ''}{seconds:.3f} seconds"


async def any_due(*, connection: AsyncConnection) -> bool:
    return (await connection.execute(_ANY_DUE.on(connection))).first() is not None


async def claim(
    *, connection: AsyncConnection, claim_id: str, limit: int, lease_seconds: float
) -> list[Message]:
    params: dict[str, Any] = {"claim": claim_id, "limit": limit}
    if is_postgresql(connection):
        statement = _CLAIM_POSTGRESQL
        params["lease_seconds"] = lease_seconds
    else:
        statement = _CLAIM_SQLITE
        params["lease_modifier"] = _modifier(lease_seconds)
    rows = (await connection.execute(statement.on(connection), params)).mappings().all()
    return sorted((Message.from_row(row) for row in rows), key=lambda message: message.id)


async def contexts(*, connection: AsyncConnection, ids: Sequence[int]) -> dict[int, Context]:
    if not ids:
        return {}
    rows = (await connection.execute(_CONTEXT.on(connection), {"ids": list(ids)})).mappings().all()
    return {
        int(row["id"]): Context(
            restaurant_name=row["restaurant_name"],
            slug=row["slug"],
            name=row["name"],
            token_number=int(row["token_number"]),
            position=int(row["position"]),
            opted_out=bool(row["opted_out"]),
            status=row["status"],
            confirmed=bool(row["confirmed"]),
            language=row["language"],
            chose_language=bool(row["chose_language"]),
            own_text=row["own_text"],
            enabled=bool(row["enabled"]),
        )
        for row in rows
    }


async def record_sent(
    *, connection: AsyncConnection, message_id: int, claim_id: str, provider_id: str, attempted: bool = True
) -> bool:
    """True if this worker still held the message and it is now recorded as sent."""
    params = {"id": message_id, "claim": claim_id, "provider_id": provider_id, "attempted": int(attempted)}
    result = await connection.execute(_SENT.on(connection), params)
    return bool(result.rowcount)


async def record_retry(
    *,
    connection: AsyncConnection,
    message_id: int,
    claim_id: str,
    reason: str,
    delay_seconds: float,
    maybe_sent: bool,
) -> bool:
    params: dict[str, Any] = {"id": message_id, "claim": claim_id, "reason": reason, "maybe_sent": maybe_sent}
    if is_postgresql(connection):
        statement = _RETRY_POSTGRESQL
        params["delay_seconds"] = delay_seconds
    else:
        statement = _RETRY_SQLITE
        params["delay_modifier"] = _modifier(delay_seconds)
    result = await connection.execute(statement.on(connection), params)
    return bool(result.rowcount)


async def settle(
    *, connection: AsyncConnection, message_id: int, claim_id: str, state: str, reason: str, attempted: bool
) -> bool:
    """Failed or skipped, with the reason."""
    params = {
        "id": message_id,
        "claim": claim_id,
        "state": state,
        "reason": reason,
        "attempted": int(attempted),
    }
    result = await connection.execute(_SETTLE.on(connection), params)
    return bool(result.rowcount)


async def release(*, connection: AsyncConnection, message_ids: Sequence[int], claim_id: str) -> None:
    if message_ids:
        await connection.execute(_RELEASE.on(connection), {"ids": list(message_ids), "claim": claim_id})


async def known_provider_ids(*, connection: AsyncConnection, recipient: str) -> frozenset[str]:
    rows = await connection.execute(_KNOWN_PROVIDER_IDS.on(connection), {"recipient": recipient})
    return frozenset(str(row.provider_id) for row in rows)


async def oldest_age_seconds(*, connection: AsyncConnection) -> float:
    """How long the oldest message not yet settled has waited (0 when none waits)."""
    statement = _OLDEST_AGE_POSTGRESQL if is_postgresql(connection) else _OLDEST_AGE_SQLITE
    value = (await connection.execute(statement.on(connection))).scalar()
    return 0.0 if value is None else max(0.0, float(value))


async def for_entries(
    *, connection: AsyncConnection, entry_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[MessageRecord]]:
    if not entry_ids:
        return {}
    params = {"entry_ids": [str(entry_id) for entry_id in entry_ids]}
    found: dict[uuid.UUID, list[MessageRecord]] = {}
    for row in (await connection.execute(_FOR_ENTRIES.on(connection), params)).mappings():
        found.setdefault(uuid.UUID(str(row["entry_id"])), []).append(MessageRecord.from_row(row))
    return found


async def resend_table_ready(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, entry_id: uuid.UUID, key: str
) -> bool:
    """True if this press enqueued the text (False: a repeat of the press, or the party is not called)."""
    statement = _RESEND_POSTGRESQL if is_postgresql(connection) else _RESEND_SQLITE
    params = {"restaurant_id": str(restaurant_id), "entry_id": str(entry_id), "key": key}
    result = await connection.execute(statement.on(connection), params)
    return bool(result.rowcount)


def context_values(context: Context, *, link: str) -> Mapping[str, object]:
    return {
        "name": context.name,
        "token": context.token_number,
        "position": context.position,
        "restaurant": context.restaurant_name,
        "link": link,
    }
