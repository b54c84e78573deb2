"""Rate-limit rows are created and locked in one statement.

0002 created missing rows (``ON CONFLICT DO NOTHING``) and then locked them with a second statement; a sweep
deleting an expired row in between made the lock skip it, so that key went uncounted and the join answered
with fewer decisions than checks. ``ON CONFLICT DO UPDATE`` locks an existing row and inserts a missing one
in the same statement, in key order; the sweep (store/queries.py) now skips rows that a join holds.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

from waitline.migrations import dialect

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if dialect.is_postgresql():
        op.execute(HIT_LIMITS_FUNCTION)


def downgrade() -> None:
    if dialect.is_postgresql():
        script = op.get_context().script
        assert script is not None
        revision = script.get_revision("0002")
        assert revision is not None and revision.module is not None
        op.execute(
            revision.module.HIT_LIMITS_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
        )


# GCRA for several keys at once, all or nothing: a request refused by one policy is counted by none.
HIT_LIMITS_FUNCTION = """
CREATE OR REPLACE FUNCTION waitline_hit_limits(
    p_now float8, p_keys text[], p_intervals float8[], p_tolerances float8[],
    OUT allowed boolean, OUT tats float8[]
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_row record;
    v_i integer;
    v_base float8;
    v_new float8[];
BEGIN
    allowed := true;
    tats := '{}';
    IF coalesce(cardinality(p_keys), 0) = 0 THEN
        RETURN;
    END IF;
    tats := array_fill(0::float8, ARRAY[cardinality(p_keys)]);
    v_new := tats;
    -- One statement creates each missing row (an untouched allowance: tat 0) and locks every row, in key
    -- order, so two checks that share keys never deadlock and a concurrent sweep cannot slip in between.
    FOR v_row IN
        INSERT INTO rate_limit AS r (key, tat)
        SELECT k, 0 FROM unnest(p_keys) AS k ORDER BY k
        ON CONFLICT (key) DO UPDATE SET tat = r.tat
        RETURNING r.key, r.tat
    LOOP
        v_i := array_position(p_keys, v_row.key);
        v_base := greatest(v_row.tat, p_now);
        IF v_base - p_tolerances[v_i] > p_now THEN
            allowed := false;
        END IF;
        tats[v_i] := v_row.tat;
        v_new[v_i] := v_base + p_intervals[v_i];
    END LOOP;

    IF allowed THEN
        -- By the primary key: joined to generate_subscripts() instead, the planner guesses 1,000 rows and
        -- scans the whole table (a row per mobile number for an hour) on every join.
        UPDATE rate_limit r SET tat = v_new[array_position(p_keys, r.key)]
        WHERE r.key = ANY (p_keys);
        tats := v_new;
    END IF;
END;
$$;
"""
