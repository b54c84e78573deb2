"""The queue: restaurants, their token counters, queue entries and staff API tokens.

One history for PostgreSQL and SQLite. Ids are native UUIDs on PostgreSQL and their canonical text on
SQLite; timestamps are timestamptz on PostgreSQL and ISO-8601 UTC text on SQLite. On PostgreSQL the join
is the server-side function ``waitline_join`` so that it costs one round trip.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from waitline.migrations import dialect

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = ("waiting", "called", "seated", "no_show", "cancelled")


def upgrade() -> None:
    op.create_table(
        "restaurant",
        sa.Column("id", dialect.uuid_type(), primary_key=True),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("queue_open", sa.Boolean(), nullable=False, server_default=sa.true()),
        # ISO 3166 region that national mobile numbers are read in (e.g. "GB"); NULL: international only.
        sa.Column("default_region", sa.String(2), nullable=True),
        dialect.created_at(),
        sa.UniqueConstraint("slug", name="restaurant_slug_key"),
    )
    op.create_table(
        "token_sequence",
        sa.Column(
            "restaurant_id",
            dialect.uuid_type(),
            sa.ForeignKey("restaurant.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("last_token", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_table(
        "queue_entry",
        sa.Column("id", dialect.uuid_type(), primary_key=True),
        sa.Column(
            "restaurant_id",
            dialect.uuid_type(),
            sa.ForeignKey("restaurant.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("token_number", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("mobile", sa.Text(), nullable=False),
        sa.Column("party_size", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, server_default="waiting"),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("request_fingerprint", sa.Text(), nullable=True),
        dialect.created_at(),
        sa.Column("called_at", dialect.timestamp_type(), nullable=True),
        sa.Column("finished_at", dialect.timestamp_type(), nullable=True),
        sa.UniqueConstraint("restaurant_id", "token_number", name="queue_entry_token_key"),
        sa.UniqueConstraint("restaurant_id", "idempotency_key", name="queue_entry_idempotency_key_key"),
        sa.CheckConstraint("party_size BETWEEN 1 AND 20", name="queue_entry_party_size_check"),
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")", name="queue_entry_status_check"
        ),
        sa.CheckConstraint("length(idempotency_key) <= 255", name="queue_entry_idempotency_key_check"),
    )
    # Serves call-next ("lowest waiting token") and positions ("waiting tokens up to mine").
    op.create_index(
        "queue_entry_waiting_idx",
        "queue_entry",
        ["restaurant_id", "token_number"],
        postgresql_where=sa.text("status = 'waiting'"),
        sqlite_where=sa.text("status = 'waiting'"),
    )
    # Serves "now serving": the latest call of a restaurant.
    op.create_index(
        "queue_entry_called_idx",
        "queue_entry",
        ["restaurant_id", "called_at"],
        postgresql_where=sa.text("called_at IS NOT NULL"),
        sqlite_where=sa.text("called_at IS NOT NULL"),
    )
    op.create_table(
        "api_token",
        sa.Column("id", dialect.uuid_type(), primary_key=True),
        sa.Column(
            "restaurant_id",
            dialect.uuid_type(),
            sa.ForeignKey("restaurant.id", ondelete="CASCADE"),
            nullable=False,
        ),
        # SHA-256 of a 256-bit random secret: the secret itself is never stored.
        sa.Column("token_hash", sa.Text(), nullable=False),
        dialect.created_at(),
        sa.UniqueConstraint("token_hash", name="api_token_token_hash_key"),
    )
    if dialect.is_postgresql():
        op.execute(JOIN_FUNCTION)


def downgrade() -> None:
    if dialect.is_postgresql():
        op.execute("DROP FUNCTION waitline_join")
    op.drop_table("api_token")
    op.drop_table("queue_entry")
    op.drop_table("token_sequence")
    op.drop_table("restaurant")


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
    p_fingerprint text
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
    finished_at timestamptz
) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_restaurant_id uuid;
    v_queue_open boolean;
    v_entry queue_entry%ROWTYPE;
    v_outcome text := 'replayed';
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
            RETURN QUERY SELECT 'closed', NULL::uuid, v_restaurant_id, NULL::bigint, NULL::text, NULL::text,
                NULL::integer, NULL::text, NULL::text, NULL::bigint, NULL::timestamptz, NULL::timestamptz,
                NULL::timestamptz;
            RETURN;
        END IF;

        -- The counter row lock serialises the joins of one restaurant until this transaction ends.
        PERFORM 1 FROM token_sequence s WHERE s.restaurant_id = v_restaurant_id FOR UPDATE;

        -- A copy of this request that raced us and committed while we waited for the lock is visible
        -- now (fresh snapshot): we answer with its entry and take no token for it.
        SELECT * INTO v_entry FROM queue_entry e
        WHERE e.restaurant_id = v_restaurant_id AND e.idempotency_key = p_idempotency_key;

        IF NOT FOUND THEN
            -- Take the next token and insert the entry in one statement; a rollback undoes both.
            WITH bump AS (
                UPDATE token_sequence s SET last_token = s.last_token + 1
                WHERE s.restaurant_id = v_restaurant_id
                RETURNING s.last_token
            )
            INSERT INTO queue_entry AS e (id, restaurant_id, token_number, name, mobile, party_size, status,
                                          idempotency_key, request_fingerprint)
            SELECT p_entry_id, v_restaurant_id, bump.last_token, p_name, p_mobile, p_party_size, 'waiting',
                   p_idempotency_key, p_fingerprint
            FROM bump
            RETURNING * INTO v_entry;
            v_outcome := 'created';
        END IF;
    END IF;

    RETURN QUERY SELECT v_outcome, v_entry.id, v_entry.restaurant_id, v_entry.token_number,
        v_entry.name, v_entry.mobile, v_entry.party_size, v_entry.status, v_entry.request_fingerprint,
        (SELECT count(*) FROM queue_entry w WHERE w.restaurant_id = v_restaurant_id
            AND w.status = 'waiting' AND w.token_number <= v_entry.token_number),
        v_entry.created_at, v_entry.called_at, v_entry.finished_at;
END;
$$;
"""
