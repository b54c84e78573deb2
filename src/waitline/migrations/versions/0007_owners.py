"""Organisations own locations; owners, roles per location, revocation; the location's settings.

- ``organisation``: owns restaurants (locations). Every restaurant that exists before this revision gets an
  organisation of its own, named after it: nobody gains access to a location they could not reach before.
- ``organisation_owner``: an owner login (email + argon2id hash) of one organisation, owner of every
  location in it; ``owner_session`` holds the SHA-256 of each owner session cookie's secret.
- ``staff_user.role``: ``manager`` (settings and staff of that location) or ``host`` (runs the queue only).
  Staff logins that exist before this revision become hosts: the dashboard was all they could reach, so they
  keep exactly that; an owner made with ``waitline owner create`` hands out more.
- ``staff_user.revoked_at`` / ``api_token.revoked_at``: a revoked login or token is refused at its next
  request (the session look-up checks it, and revoking deletes the sessions in the same transaction).
- ``restaurant``: ``time_zone`` (IANA name), ``default_language``, ``max_waiting``, ``max_party_size``,
  ``opening_hours`` and ``closed_dates`` (JSON text, read by domain/hours.py); NULL limits mean no limit,
  NULL hours mean always open.
- ``staff_invite``: a one-time invitation link, known by the SHA-256 of its secret, with an expiry.
- ``waitline_join`` (PostgreSQL) refuses, inside its one statement, a party over ``max_party_size``, a join
  outside the opening hours or on a closed date, and (under the counter lock) a join that would put more
  than ``max_waiting`` parties in the queue. A frozen copy of store/sql/waitline_join.sql as of this revision.
- ``audit_event``: organisation-level admin actions (who, what, before, after). Location-scoped ones go to
  the location's ``queue_event`` log as well (see services/admin.py).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

from waitline.migrations import dialect

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisation",
        sa.Column("id", dialect.uuid_type(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        dialect.created_at(),
    )
    op.create_table(
        "organisation_owner",
        sa.Column("id", dialect.uuid_type(), primary_key=True),
        sa.Column(
            "organisation_id",
            dialect.uuid_type(),
            sa.ForeignKey("organisation.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("revoked_at", dialect.timestamp_type(), nullable=True),
        dialect.created_at(),
        sa.UniqueConstraint("email", name="organisation_owner_email_key"),
    )
    op.create_table(
        "owner_session",
        sa.Column("token_hash", sa.Text(), primary_key=True),
        sa.Column(
            "owner_id",
            dialect.uuid_type(),
            sa.ForeignKey("organisation_owner.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        dialect.created_at(),
        sa.Column("expires_at", dialect.timestamp_type(), nullable=False),
    )
    # Nullable in the schema (SQLite cannot add a NOT NULL foreign key to a table with rows); every
    # restaurant gets one below and services/restaurants.py never creates one without.
    if dialect.is_postgresql():
        op.add_column(
            "restaurant",
            sa.Column(
                "organisation_id", dialect.uuid_type(), sa.ForeignKey("organisation.id"), nullable=True
            ),
        )
    else:  # alembic would ask for batch mode: SQLite adds a column with a foreign key in plain SQL
        op.execute(
            "ALTER TABLE restaurant ADD COLUMN organisation_id VARCHAR(36) REFERENCES organisation (id)"
        )
    op.add_column("restaurant", sa.Column("time_zone", sa.Text(), nullable=False, server_default="UTC"))
    op.add_column("restaurant", sa.Column("default_language", sa.Text(), nullable=False, server_default="en"))
    op.add_column("restaurant", sa.Column("max_waiting", sa.Integer(), nullable=True))
    op.add_column("restaurant", sa.Column("max_party_size", sa.Integer(), nullable=True))
    op.add_column("restaurant", sa.Column("opening_hours", sa.Text(), nullable=True))
    op.add_column("restaurant", sa.Column("closed_dates", sa.Text(), nullable=True))
    op.create_index("restaurant_organisation_idx", "restaurant", ["organisation_id"])
    _give_each_restaurant_an_organisation()
    if dialect.is_postgresql():
        op.alter_column("restaurant", "organisation_id", nullable=False)

    op.add_column("staff_user", sa.Column("role", sa.Text(), nullable=False, server_default="host"))
    op.add_column("staff_user", sa.Column("revoked_at", dialect.timestamp_type(), nullable=True))
    op.add_column("api_token", sa.Column("revoked_at", dialect.timestamp_type(), nullable=True))
    if dialect.is_postgresql():
        op.create_check_constraint("staff_user_role_check", "staff_user", "role IN ('manager', 'host')")

    op.create_table(
        "staff_invite",
        sa.Column("token_hash", sa.Text(), primary_key=True),
        dialect.restaurant_fk(),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("expires_at", dialect.timestamp_type(), nullable=False),
        sa.Column("used_at", dialect.timestamp_type(), nullable=True),
        dialect.created_at(),
    )
    op.create_table(
        "audit_event",
        sa.Column("id", dialect.uuid_type(), primary_key=True),
        sa.Column(
            "organisation_id",
            dialect.uuid_type(),
            sa.ForeignKey("organisation.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("restaurant_id", dialect.uuid_type(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        dialect.created_at(),
    )
    op.create_index("audit_event_organisation_idx", "audit_event", ["organisation_id", "created_at"])
    if dialect.is_postgresql():
        op.execute(JOIN_FUNCTION)


def _give_each_restaurant_an_organisation() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, name FROM restaurant")).all()
    for restaurant_id, name in rows:
        organisation_id = str(uuid.uuid4())
        bind.execute(
            sa.text("INSERT INTO organisation (id, name) VALUES (:id, :name)"),
            {"id": organisation_id, "name": name},
        )
        bind.execute(
            sa.text("UPDATE restaurant SET organisation_id = :organisation_id WHERE id = :id"),
            {"organisation_id": organisation_id, "id": str(restaurant_id)},
        )


def downgrade() -> None:
    if dialect.is_postgresql():
        op.execute(_join_function_of_0005())
    op.drop_index("audit_event_organisation_idx", "audit_event")
    op.drop_table("audit_event")
    op.drop_table("staff_invite")
    if dialect.is_postgresql():
        op.drop_constraint("staff_user_role_check", "staff_user")
    op.drop_column("api_token", "revoked_at")
    op.drop_column("staff_user", "revoked_at")
    op.drop_column("staff_user", "role")
    op.drop_index("restaurant_organisation_idx", "restaurant")
    for column in (
        "closed_dates",
        "opening_hours",
        "max_party_size",
        "max_waiting",
        "default_language",
        "time_zone",
        "organisation_id",
    ):
        op.drop_column("restaurant", column)
    op.drop_table("owner_session")
    op.drop_table("organisation_owner")
    op.drop_table("organisation")


def _join_function_of_0005() -> str:
    script = op.get_context().script
    assert script is not None
    found = script.get_revision("0005")
    assert found is not None and found.module is not None
    functions: tuple[str, ...] = found.module.FUNCTIONS
    return next(sql for sql in functions if "FUNCTION waitline_join(" in sql)


# store/sql/waitline_join.sql as of this revision.
JOIN_FUNCTION = """
-- A join in one round trip: the replay check, the location's limits and opening hours, the restaurant's
-- counter lock, the re-check after the lock, the one-active-entry, queue-full and rate-limit checks, then the
-- entry and its `joined` event. The Python twin for SQLite is waitline.store.joins._join_sqlite (and
-- waitline.domain.hours for the hours).
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
    v_max_waiting integer;
    v_max_party integer;
    v_zone text;
    v_hours jsonb;
    v_closed jsonb;
    v_local timestamp;
    v_last_token bigint;
    v_entry queue_entry%ROWTYPE;
    v_event queue_event%ROWTYPE;
    v_outcome text := 'replayed';
    v_allowed boolean;
    v_tats float8[];
BEGIN
    SELECT r.id, r.queue_open, r.max_waiting, r.max_party_size, r.time_zone, r.opening_hours::jsonb,
           r.closed_dates::jsonb
    INTO v_restaurant_id, v_queue_open, v_max_waiting, v_max_party, v_zone, v_hours, v_closed
    FROM restaurant r WHERE r.slug = p_slug;
    IF NOT FOUND THEN
        RETURN;  -- no row at all: unknown restaurant
    END IF;

    -- A replay that arrives after its original committed is answered without touching the counter.
    SELECT * INTO v_entry FROM queue_entry e
    WHERE e.restaurant_id = v_restaurant_id AND e.idempotency_key = p_idempotency_key;

    IF NOT FOUND THEN
        -- The wall clock where the location is: its date and weekday decide the hours (24:00 ends a day).
        v_local := now() AT TIME ZONE v_zone;
        IF NOT v_queue_open THEN
            v_outcome := 'closed';
        ELSIF v_max_party IS NOT NULL AND p_party_size > v_max_party THEN
            v_outcome := 'too_large';
        ELSIF (v_closed IS NOT NULL AND v_closed @> jsonb_build_array(to_char(v_local, 'YYYY-MM-DD')))
            OR (v_hours IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM jsonb_array_elements(coalesce(
                    v_hours -> (ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])
                        [extract(isodow FROM v_local)::int],
                    '[]'::jsonb)) span
                WHERE v_local::time >= (span ->> 0)::time AND v_local::time < (span ->> 1)::time
            )) THEN
            v_outcome := 'outside_hours';
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
                -- Counted under the counter lock: racing joins see each other's entries, none overshoots.
                ELSIF v_max_waiting IS NOT NULL AND (
                    SELECT count(*) FROM queue_entry w
                    WHERE w.restaurant_id = v_restaurant_id AND w.status = 'waiting'
                ) >= v_max_waiting THEN
                    v_outcome := 'full';
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

    IF v_outcome IN ('closed', 'too_large', 'outside_hours', 'already_queued', 'full', 'rate_limited') THEN
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
"""
