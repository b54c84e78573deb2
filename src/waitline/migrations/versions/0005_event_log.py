"""The event log: every change of a queue appends one hash-chained event in the same transaction.

- ``queue_event``: per restaurant, ``seq`` 1, 2, 3 ... without gaps, with the entry and token, the actor, a
  reason where the order was not first come, first served, the time, and ``hash = sha256(prev_hash ||
  canonical encoding)``. Append-only: triggers refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE).
- ``token_sequence`` (the restaurant's counter row) also holds the log's head: ``last_seq``, ``last_hash``.
- PostgreSQL: ``waitline_join`` records the `joined` event in its one statement; ``waitline_call_next`` claims
  and records a call in one statement; ``waitline_append_event`` appends for every other change.
- The change signals of 0003 go: NOTIFY triggers (PostgreSQL) and ``queue_version`` (SQLite). The app now
  sends one NOTIFY per batch of commits itself, and live pages read the log's head.
- ``queue_entry_created_idx`` goes: the day's counts are read from the log (``queue_event_at_idx``).
- Entries made before this revision get their events from their timestamps (actor ``system``), so every
  restaurant's log is whole and verifies.

The functions are frozen copies of store/sql/*.sql as of this revision.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

from waitline.migrations import dialect

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64
BACKFILL_REASON = "recorded by migration 0005 from the entry's timestamps"


def upgrade() -> None:
    op.create_table(
        "queue_event",
        # No cascade: a restaurant with a history cannot be deleted by accident.
        dialect.restaurant_fk(cascade=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        # No foreign key: the log outlives the rows it speaks of.
        sa.Column("entry_id", dialect.uuid_type(), nullable=True),
        sa.Column("token_number", sa.BigInteger(), nullable=True),
        sa.Column("actor_kind", sa.Text(), nullable=False),
        sa.Column("actor_id", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("at", dialect.timestamp_type(), nullable=False),
        sa.Column("prev_hash", sa.Text(), nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("restaurant_id", "seq", name="queue_event_pkey"),
    )
    # An entry's own events (what a guest's page explains, what staff see on a row).
    op.create_index(
        "queue_event_entry_idx",
        "queue_event",
        ["entry_id"],
        postgresql_where=sa.text("entry_id IS NOT NULL"),
        sqlite_where=sa.text("entry_id IS NOT NULL"),
    )
    # A restaurant's events by time: the day's counts, the pace of calls, analytics.
    op.create_index("queue_event_at_idx", "queue_event", ["restaurant_id", "at"])
    with op.batch_alter_table("token_sequence") as table:
        table.add_column(sa.Column("last_seq", sa.BigInteger(), nullable=False, server_default="0"))
        table.add_column(sa.Column("last_hash", sa.Text(), nullable=False, server_default=GENESIS_HASH))
    op.drop_index("queue_entry_created_idx", "queue_entry")
    if dialect.is_postgresql():
        op.execute("DROP TRIGGER queue_entry_notify ON queue_entry")
        op.execute("DROP TRIGGER restaurant_notify ON restaurant")
        op.execute("DROP FUNCTION waitline_notify_queue_entry()")
        op.execute("DROP FUNCTION waitline_notify_restaurant()")
        op.execute(
            "DROP FUNCTION waitline_join"
            "(text, uuid, text, text, integer, text, text, float8, text[], float8[], float8[])"
        )
        for function in FUNCTIONS:
            op.execute(function)
        for statement in POSTGRESQL_APPEND_ONLY:
            op.execute(statement)
    else:
        for trigger in ("queue_entry_insert", "queue_entry_status", "queue_entry_delete", "restaurant_open"):
            op.execute(f"DROP TRIGGER {trigger}_version")
        op.drop_table("queue_version")
        for statement in SQLITE_APPEND_ONLY:
            op.execute(statement)
    _record_history()


def downgrade() -> None:
    revision_0003 = _revision_module("0003")
    if dialect.is_postgresql():
        for statement in (
            "DROP TRIGGER queue_event_append_only ON queue_event",
            "DROP TRIGGER queue_event_no_truncate ON queue_event",
            "DROP FUNCTION waitline_call_next(uuid, integer, text, text, text)",
            "DROP FUNCTION waitline_join"
            "(text, uuid, text, text, integer, text, text, float8, text[], float8[], float8[])",
            "DROP FUNCTION waitline_append_event(uuid, text, uuid, bigint, text, text, text, text, bigint)",
            "DROP FUNCTION waitline_refuse_event_change()",
            "DROP FUNCTION waitline_event_hash"
            "(text, uuid, bigint, text, uuid, bigint, text, text, text, text, timestamptz)",
            "DROP FUNCTION waitline_netstring(text)",
        ):
            op.execute(statement)
        op.execute(_revision_module("0002").JOIN_FUNCTION)
        for statement in revision_0003.POSTGRESQL_SIGNALS:
            op.execute(statement)
    else:
        op.create_table(
            "queue_version",
            sa.Column("restaurant_id", sa.String(36), primary_key=True),
            sa.Column("version", sa.BigInteger(), nullable=False),
        )
        for statement in revision_0003.SQLITE_SIGNALS:
            op.execute(statement)
    op.create_index("queue_entry_created_idx", "queue_entry", ["restaurant_id", "created_at"])
    with op.batch_alter_table("token_sequence") as table:
        table.drop_column("last_hash")
        table.drop_column("last_seq")
    op.drop_index("queue_event_at_idx", "queue_event")
    op.drop_index("queue_event_entry_idx", "queue_event")
    op.drop_table("queue_event")


def _revision_module(revision_id: str) -> Any:
    """An earlier revision's module, to take its frozen SQL from rather than copy it here."""
    script = op.get_context().script
    assert script is not None
    found = script.get_revision(revision_id)
    assert found is not None and found.module is not None
    return found.module


# --- the events of entries made before this revision ------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FINISHED = {"seated": "seated", "no_show": "no_show", "cancelled": "cancelled"}


def _netstring(value: str | None) -> bytes:
    if value is None:
        return b"-,"
    data = value.encode()
    return str(len(data)).encode() + b":" + data + b","


def _hash(prev_hash: str, fields: tuple[str | None, ...]) -> str:
    """Frozen copy of waitline.domain.event's canonical encoding, version 1."""
    return hashlib.sha256(
        bytes.fromhex(prev_hash) + b"".join(_netstring(field) for field in fields)
    ).hexdigest()


def _moment(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _record_history() -> None:
    """One event per step each existing entry took, in time order, chained per restaurant."""
    bind = op.get_bind()
    columns = "id, restaurant_id, token_number, status, created_at, called_at, finished_at"
    rows = bind.execute(sa.text(f"SELECT {columns} FROM queue_entry")).mappings()
    steps: dict[str, list[tuple[datetime, int, int, str, Any, Any]]] = defaultdict(list)
    for row in rows:
        restaurant = str(row["restaurant_id"])
        token = int(row["token_number"])
        raw = (row["created_at"], row["called_at"], row["finished_at"])
        steps[restaurant].append((_moment(raw[0]), 0, token, "joined", row["id"], raw[0]))
        if raw[1] is not None:
            steps[restaurant].append((_moment(raw[1]), 1, token, "called", row["id"], raw[1]))
        if raw[2] is not None and row["status"] in _FINISHED:
            steps[restaurant].append((_moment(raw[2]), 2, token, _FINISHED[row["status"]], row["id"], raw[2]))
    insert = sa.text(
        "INSERT INTO queue_event (restaurant_id, seq, type, entry_id, token_number, actor_kind, actor_id,"
        " reason, details, at, prev_hash, hash) VALUES (:restaurant_id, :seq, :type, :entry_id,"
        " :token_number, 'system', NULL, :reason, NULL, :at, :prev_hash, :hash)"
    )
    for restaurant, history in steps.items():
        prev_hash, batch = GENESIS_HASH, []
        for seq, (at, _, token, kind, entry_id, stored_at) in enumerate(sorted(history), start=1):
            micros = (at - _EPOCH) // timedelta(microseconds=1)
            fields = (
                "1",
                restaurant,
                str(seq),
                kind,
                str(entry_id),
                str(token),
                "system",
                None,
                BACKFILL_REASON,
                None,
                str(micros),
            )
            digest = _hash(prev_hash, fields)
            batch.append(
                {
                    "restaurant_id": restaurant,
                    "seq": seq,
                    "type": kind,
                    "entry_id": str(entry_id),
                    "token_number": token,
                    "reason": BACKFILL_REASON,
                    "at": stored_at,
                    "prev_hash": prev_hash,
                    "hash": digest,
                }
            )
            prev_hash = digest
        bind.execute(insert, batch)
        bind.execute(
            sa.text(
                "UPDATE token_sequence SET last_seq = :seq, last_hash = :hash WHERE restaurant_id = :rid"
            ),
            {"seq": len(batch), "hash": prev_hash, "rid": batch[0]["restaurant_id"]},
        )


# --- frozen copies ----------------------------------------------------------------------------------------

POSTGRESQL_APPEND_ONLY = (
    """
    CREATE TRIGGER queue_event_append_only BEFORE UPDATE OR DELETE ON queue_event
    FOR EACH ROW EXECUTE FUNCTION waitline_refuse_event_change()
    """,
    """
    CREATE TRIGGER queue_event_no_truncate BEFORE TRUNCATE ON queue_event
    FOR EACH STATEMENT EXECUTE FUNCTION waitline_refuse_event_change()
    """,
)
SQLITE_APPEND_ONLY = (
    """
    CREATE TRIGGER queue_event_no_update BEFORE UPDATE ON queue_event
    BEGIN SELECT RAISE(ABORT, 'queue_event is append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER queue_event_no_delete BEFORE DELETE ON queue_event
    BEGIN SELECT RAISE(ABORT, 'queue_event is append-only: DELETE refused'); END
    """,
)

# store/sql/<name>.sql as of this revision, in the order they can be created.
FUNCTIONS = (
    """
-- One field of an event's canonical encoding: '<byte length>:<utf-8 bytes>,' or '-,' for NULL.
-- STABLE, as what it calls (convert_to) is: declared IMMUTABLE it was not inlined into its callers, and
-- ran as a call of its own per field (11 per event).
-- The Python twin is waitline.domain.event._netstring; `waitline events verify` checks that they agree.
CREATE OR REPLACE FUNCTION waitline_netstring(p_value text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_value IS NULL THEN '-,'
                ELSE octet_length(convert_to(p_value, 'UTF8'))::text || ':' || p_value || ','
           END
$$;
""",
    """
-- sha256(previous hash || canonical encoding of the event), as hex; the Python twin is
-- waitline.domain.event.Event.expected_hash. Times enter as whole microseconds since the epoch.
CREATE OR REPLACE FUNCTION waitline_event_hash(
    p_prev_hash text,
    p_restaurant_id uuid,
    p_seq bigint,
    p_type text,
    p_entry_id uuid,
    p_token_number bigint,
    p_actor_kind text,
    p_actor_id text,
    p_reason text,
    p_details text,
    p_at timestamptz
) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT encode(sha256(decode(p_prev_hash, 'hex') || convert_to(
        waitline_netstring('1')
        || waitline_netstring(p_restaurant_id::text)
        || waitline_netstring(p_seq::text)
        || waitline_netstring(p_type)
        || waitline_netstring(p_entry_id::text)
        || waitline_netstring(p_token_number::text)
        || waitline_netstring(p_actor_kind)
        || waitline_netstring(p_actor_id)
        || waitline_netstring(p_reason)
        || waitline_netstring(p_details)
        || waitline_netstring((extract(epoch FROM p_at) * 1000000)::bigint::text),
        'UTF8')), 'hex')
$$;
""",
    """
-- The event log is append-only: the triggers queue_event_append_only (rows) and queue_event_no_truncate
-- call this before any UPDATE, DELETE or TRUNCATE of queue_event.
CREATE OR REPLACE FUNCTION waitline_refuse_event_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'queue_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
""",
    """
-- Appends one event to a restaurant's log: the next seq from the counter row, chained onto the last hash.
-- The counter row is locked first (a caller that already holds the lock just holds it again), so appends of
-- one restaurant are numbered in the order they commit, without gaps: a rolled-back append rolls back its
-- seq too. p_last_token, when given, is stored in the same update (a join hands out a token and a seq at
-- once, and the hot row is updated once).
CREATE OR REPLACE FUNCTION waitline_append_event(
    p_restaurant_id uuid,
    p_type text,
    p_entry_id uuid,
    p_token_number bigint,
    p_actor_kind text,
    p_actor_id text,
    p_reason text,
    p_details text,
    p_last_token bigint
) RETURNS queue_event
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_head token_sequence%ROWTYPE;
    v_event queue_event%ROWTYPE;
BEGIN
    SELECT * INTO STRICT v_head FROM token_sequence s WHERE s.restaurant_id = p_restaurant_id FOR UPDATE;
    v_event.restaurant_id := p_restaurant_id;
    v_event.seq := v_head.last_seq + 1;
    v_event.type := p_type;
    v_event.entry_id := p_entry_id;
    v_event.token_number := p_token_number;
    v_event.actor_kind := p_actor_kind;
    v_event.actor_id := p_actor_id;
    v_event.reason := p_reason;
    v_event.details := p_details;
    v_event.at := clock_timestamp();  -- under the lock: times rise with seq
    v_event.prev_hash := v_head.last_hash;
    v_event.hash := waitline_event_hash(
        v_head.last_hash, p_restaurant_id, v_event.seq, p_type, p_entry_id, p_token_number,
        p_actor_kind, p_actor_id, p_reason, p_details, v_event.at
    );
    INSERT INTO queue_event SELECT v_event.*;
    UPDATE token_sequence s
    SET last_seq = v_event.seq, last_hash = v_event.hash, last_token = coalesce(p_last_token, s.last_token)
    WHERE s.restaurant_id = p_restaurant_id;
    RETURN v_event;
END;
$$;
""",
    """
-- A join in one round trip: the replay check, the restaurant's counter lock, the re-check after the lock,
-- the one-active-entry and rate-limit checks, then the entry and its `joined` event. The Python twin for
-- SQLite is waitline.store.joins._join_sqlite.
--
-- Under READ COMMITTED every statement of a VOLATILE function takes a fresh snapshot, which is what makes
-- the re-check after the lock see a copy of this request committed while we waited.
CREATE OR REPLACE FUNCTION waitline_join(
    p_slug text,
    p_entry_id uuid,
    p_name text,
    p_mobile text,
    p_party_size integer,
    p_idempotency_key text,
    p_fingerprint text,
    p_now float8,
    p_limit_keys text[],
    p_limit_intervals float8[],
    p_limit_tolerances float8[]
) RETURNS TABLE (
    outcome text,
    id uuid,
    restaurant_id uuid,
    token_number bigint,
    name text,
    mobile text,
    party_size integer,
    status text,
    request_fingerprint text,
    "position" bigint,
    created_at timestamptz,
    called_at timestamptz,
    finished_at timestamptz,
    limit_tats float8[],
    event_seq bigint,
    event_at timestamptz,
    event_prev_hash text,
    event_hash text
) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_restaurant_id uuid;
    v_queue_open boolean;
    v_last_token bigint;
    v_entry queue_entry%ROWTYPE;
    v_event queue_event%ROWTYPE;
    v_outcome text := 'replayed';
    v_allowed boolean;
    v_tats float8[];
BEGIN
    SELECT r.id, r.queue_open INTO v_restaurant_id, v_queue_open FROM restaurant r WHERE r.slug = p_slug;
    IF NOT FOUND THEN
        RETURN;  -- no row at all: unknown restaurant
    END IF;

    -- A replay that arrives after its original committed is answered without touching the counter.
    SELECT * INTO v_entry FROM queue_entry e
    WHERE e.restaurant_id = v_restaurant_id AND e.idempotency_key = p_idempotency_key;

    IF NOT FOUND THEN
        IF NOT v_queue_open THEN
            v_outcome := 'closed';
        ELSE
            -- The counter row lock serialises every change of one restaurant until this transaction ends:
            -- tokens and event seqs are handed out in commit order, without gaps.
            SELECT s.last_token INTO v_last_token
            FROM token_sequence s WHERE s.restaurant_id = v_restaurant_id FOR UPDATE;

            -- A copy of this request that raced us and committed while we waited for the lock is visible
            -- now (fresh snapshot): we answer with its entry and take no token for it.
            SELECT * INTO v_entry FROM queue_entry e
            WHERE e.restaurant_id = v_restaurant_id AND e.idempotency_key = p_idempotency_key;

            IF NOT FOUND THEN
                IF EXISTS (
                    SELECT 1 FROM queue_entry e
                    WHERE e.restaurant_id = v_restaurant_id AND e.mobile = p_mobile
                      AND e.status IN ('waiting', 'called')
                ) THEN
                    v_outcome := 'already_queued';
                ELSE
                    SELECT l.allowed, l.tats INTO v_allowed, v_tats
                    FROM waitline_hit_limits(p_now, p_limit_keys, p_limit_intervals, p_limit_tolerances) l;
                    IF NOT v_allowed THEN
                        v_outcome := 'rate_limited';
                    ELSE
                        INSERT INTO queue_entry AS e (id, restaurant_id, token_number, name, mobile,
                                                      party_size, status, idempotency_key,
                                                      request_fingerprint)
                        VALUES (p_entry_id, v_restaurant_id, v_last_token + 1, p_name, p_mobile, p_party_size,
                                'waiting', p_idempotency_key, p_fingerprint)
                        RETURNING * INTO v_entry;
                        -- The event, the new last seq and the new last token: one update of the counter.
                        v_event := waitline_append_event(
                            v_restaurant_id, 'joined', v_entry.id, v_entry.token_number, 'guest', NULL,
                            NULL, NULL, v_entry.token_number
                        );
                        v_outcome := 'created';
                    END IF;
                END IF;
            END IF;
        END IF;
    END IF;

    IF v_outcome IN ('closed', 'already_queued', 'rate_limited') THEN
        RETURN QUERY SELECT v_outcome, NULL::uuid, v_restaurant_id, NULL::bigint, NULL::text, NULL::text,
            NULL::integer, NULL::text, NULL::text, NULL::bigint, NULL::timestamptz, NULL::timestamptz,
            NULL::timestamptz, v_tats, NULL::bigint, NULL::timestamptz, NULL::text, NULL::text;
        RETURN;
    END IF;

    RETURN QUERY SELECT v_outcome, v_entry.id, v_entry.restaurant_id, v_entry.token_number,
        v_entry.name, v_entry.mobile, v_entry.party_size, v_entry.status, v_entry.request_fingerprint,
        (SELECT count(*) FROM queue_entry w WHERE w.restaurant_id = v_restaurant_id
            AND w.status = 'waiting' AND w.token_number <= v_entry.token_number),
        v_entry.created_at, v_entry.called_at, v_entry.finished_at, v_tats,
        v_event.seq, v_event.at, v_event.prev_hash, v_event.hash;
END;
$$;
""",
    """
-- Calls the lowest waiting token (that fits a table of p_max_party_size) and records its `called` event, in
-- one round trip; no row when nobody (fitting) waits. The Python twin for SQLite is
-- waitline.store.calls._call_next_sqlite.
--
-- The counter row is locked first, as by every change of a restaurant, so calls are claimed in the order
-- their events are numbered: the log's order is the order guests were called in. The claim itself keeps
-- its one-statement form:
-- - `id = (...)`, not `id IN (...)`: the subquery runs once as an InitPlan, so exactly one row is claimed.
-- - FOR UPDATE SKIP LOCKED: a row another transaction holds right now is passed over, not waited for, and a
--   row that changed since our snapshot is re-checked against `status = 'waiting'` before it is locked.
CREATE OR REPLACE FUNCTION waitline_call_next(
    p_restaurant_id uuid,
    p_max_party_size integer,
    p_actor_kind text,
    p_actor_id text,
    p_details text
) RETURNS TABLE (
    id uuid,
    restaurant_id uuid,
    token_number bigint,
    name text,
    mobile text,
    party_size integer,
    status text,
    created_at timestamptz,
    called_at timestamptz,
    finished_at timestamptz,
    reason text,
    event_seq bigint,
    event_at timestamptz,
    event_prev_hash text,
    event_hash text
) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_entry queue_entry%ROWTYPE;
    v_event queue_event%ROWTYPE;
    v_passed record;
    v_reason text;
BEGIN
    PERFORM 1 FROM token_sequence s WHERE s.restaurant_id = p_restaurant_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    UPDATE queue_entry e SET status = 'called', called_at = now()
    WHERE e.id = (
        SELECT w.id FROM queue_entry w
        WHERE w.restaurant_id = p_restaurant_id AND w.status = 'waiting'
          AND (p_max_party_size IS NULL OR w.party_size <= p_max_party_size)
        ORDER BY w.token_number
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    RETURNING * INTO v_entry;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    -- Not first come, first served: the first party passed over, and why.
    SELECT w.token_number, w.party_size INTO v_passed FROM queue_entry w
    WHERE w.restaurant_id = p_restaurant_id AND w.status = 'waiting' AND w.token_number < v_entry.token_number
    ORDER BY w.token_number
    LIMIT 1;
    IF FOUND THEN
        v_reason := format(
            'called #%s before #%s: a party of %s does not fit a table of %s',
            v_entry.token_number, v_passed.token_number, v_passed.party_size, p_max_party_size
        );
    END IF;

    v_event := waitline_append_event(
        p_restaurant_id, 'called', v_entry.id, v_entry.token_number, p_actor_kind, p_actor_id, v_reason,
        p_details, NULL
    );
    RETURN QUERY SELECT v_entry.id, v_entry.restaurant_id, v_entry.token_number, v_entry.name, v_entry.mobile,
        v_entry.party_size, v_entry.status, v_entry.created_at, v_entry.called_at, v_entry.finished_at,
        v_reason, v_event.seq, v_event.at, v_event.prev_hash, v_event.hash;
END;
$$;
""",
)
