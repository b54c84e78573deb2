"""Abuse limits: shared rate-limit state, one active entry per mobile, and the join that checks both.

- ``rate_limit``: one GCRA "theoretical arrival time" per key (see ``waitline/ratelimit.py``), shared by every
  instance; rows whose time has passed mean nothing and are deleted by a periodic sweep.
- ``queue_entry_active_mobile_key``: a mobile number has at most one waiting or called entry per restaurant.
- ``waitline_join`` takes the rate-limit checks and applies them after the replay check and under the counter
  lock, so a replay is never counted and a join is still one round trip.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from waitline.migrations import dialect

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit",
        sa.Column("key", sa.Text(), primary_key=True),
        # Seconds since the epoch (the app's clock): when the key's allowance is fully spent up to.
        sa.Column("tat", sa.Float(precision=53), nullable=False),
    )
    op.create_index("rate_limit_tat_idx", "rate_limit", ["tat"])
    op.create_index(
        "queue_entry_active_mobile_key",
        "queue_entry",
        ["restaurant_id", "mobile"],
        unique=True,
        postgresql_where=sa.text("status IN ('waiting', 'called')"),
        sqlite_where=sa.text("status IN ('waiting', 'called')"),
    )
    if dialect.is_postgresql():
        op.execute("DROP FUNCTION waitline_join(text, uuid, text, text, integer, text, text)")
        op.execute(HIT_LIMITS_FUNCTION)
        op.execute(JOIN_FUNCTION)


def downgrade() -> None:
    if dialect.is_postgresql():
        op.execute(
            "DROP FUNCTION waitline_join"
            "(text, uuid, text, text, integer, text, text, float8, text[], float8[], float8[])"
        )
        op.execute("DROP FUNCTION waitline_hit_limits(float8, text[], float8[], float8[])")
        op.execute(_previous_join_function())
    op.drop_index("queue_entry_active_mobile_key", table_name="queue_entry")
    op.drop_index("rate_limit_tat_idx", table_name="rate_limit")
    op.drop_table("rate_limit")


def _previous_join_function() -> str:
    """Revision 0001's function, read from that revision itself rather than copied here."""
    script = op.get_context().script
    assert script is not None
    revision = script.get_revision("0001")
    assert revision is not None and revision.module is not None
    function: str = revision.module.JOIN_FUNCTION
    return function


# GCRA for several keys at once, all or nothing: a request refused by one policy is counted by none.
# Rows are locked in key order, so two checks that share keys never deadlock. The rows are found with
# ``key = ANY (p_keys)`` (the primary key's index, whatever the table's size) and each key's place in the
# array with array_position: joined to generate_subscripts() instead, which the planner guesses at 1,000
# rows, the lookup became a hash join over a sequential scan of the whole table (a row per mobile number
# for an hour) on every join.
HIT_LIMITS_FUNCTION = """
CREATE FUNCTION waitline_hit_limits(
    p_now float8, p_keys text[], p_intervals float8[], p_tolerances float8[],
    OUT allowed boolean, OUT tats float8[]
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_row record;
    v_base float8;
    v_new float8[] := '{}';
BEGIN
    allowed := true;
    tats := '{}';
    IF coalesce(cardinality(p_keys), 0) = 0 THEN
        RETURN;
    END IF;
    -- A key seen for the first time: a row whose allowance is untouched (tat in the past).
    INSERT INTO rate_limit (key, tat)
    SELECT k, 0 FROM unnest(p_keys) AS k ORDER BY k
    ON CONFLICT (key) DO NOTHING;

    FOR v_row IN
        SELECT array_position(p_keys, r.key) AS i, r.tat
        FROM rate_limit r
        WHERE r.key = ANY (p_keys)
        ORDER BY r.key
        FOR UPDATE OF r
    LOOP
        v_base := greatest(v_row.tat, p_now);
        IF v_base - p_tolerances[v_row.i] > p_now THEN
            allowed := false;
        END IF;
        tats[v_row.i] := v_row.tat;
        v_new[v_row.i] := v_base + p_intervals[v_row.i];
    END LOOP;

    IF allowed THEN
        UPDATE rate_limit r SET tat = v_new[array_position(p_keys, r.key)]
        WHERE r.key = ANY (p_keys);
        tats := v_new;
    END IF;
END;
$$;
"""

# One round trip for a join. Under READ COMMITTED every statement of a VOLATILE function takes a fresh
# snapshot, which is what makes the re-check after the lock see a copy committed while we waited.
JOIN_FUNCTION = """
CREATE FUNCTION waitline_join(
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
    limit_tats float8[]
) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_restaurant_id uuid;
    v_queue_open boolean;
    v_entry queue_entry%ROWTYPE;
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
            -- The counter row lock serialises the joins of one restaurant until this transaction ends.
            PERFORM 1 FROM token_sequence s WHERE s.restaurant_id = v_restaurant_id FOR UPDATE;

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
                        -- Take the next token and insert the entry in one statement.
                        WITH bump AS (
                            UPDATE token_sequence s SET last_token = s.last_token + 1
                            WHERE s.restaurant_id = v_restaurant_id
                            RETURNING s.last_token
                        )
                        INSERT INTO queue_entry AS e (id, restaurant_id, token_number, name, mobile,
                                                      party_size, status, idempotency_key,
                                                      request_fingerprint)
                        SELECT p_entry_id, v_restaurant_id, bump.last_token, p_name, p_mobile, p_party_size,
                               'waiting', p_idempotency_key, p_fingerprint
                        FROM bump
                        RETURNING * INTO v_entry;
                        v_outcome := 'created';
                    END IF;
                END IF;
            END IF;
        END IF;
    END IF;

    IF v_outcome IN ('closed', 'already_queued', 'rate_limited') THEN
        RETURN QUERY SELECT v_outcome, NULL::uuid, v_restaurant_id, NULL::bigint, NULL::text, NULL::text,
            NULL::integer, NULL::text, NULL::text, NULL::bigint, NULL::timestamptz, NULL::timestamptz,
            NULL::timestamptz, v_tats;
        RETURN;
    END IF;

    RETURN QUERY SELECT v_outcome, v_entry.id, v_entry.restaurant_id, v_entry.token_number,
        v_entry.name, v_entry.mobile, v_entry.party_size, v_entry.status, v_entry.request_fingerprint,
        (SELECT count(*) FROM queue_entry w WHERE w.restaurant_id = v_restaurant_id
            AND w.status = 'waiting' AND w.token_number <= v_entry.token_number),
        v_entry.created_at, v_entry.called_at, v_entry.finished_at, v_tats;
END;
$$;
"""
