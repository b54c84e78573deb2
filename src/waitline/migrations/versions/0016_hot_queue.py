"""Coalesced joins, and the waiting count on the counter row (issue 11).

- ``waitline_join_batch`` (PostgreSQL) runs several joins of one restaurant in one transaction and one round
  trip, the counter row locked once (services/join_batching.py gathers them). On SQLite the per-process
  write queue already serialises joins.
- ``token_sequence.waiting``: how many parties of the restaurant wait, kept in the same update that
  advances the log's head (``waitline_append_event``; on SQLite store/events.py), so that a join's position
  and the queue-full check read one value under the counter lock instead of counting the queue.
  ``waitline_join`` and ``waitline_enqueue_messages`` read it. Frozen copies of store/sql/ as of this
  revision.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from waitline.migrations import dialect

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("token_sequence") as table:
        table.add_column(sa.Column("waiting", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE token_sequence SET waiting = (SELECT count(*) FROM queue_entry e "
        "WHERE e.restaurant_id = token_sequence.restaurant_id AND e.status = 'waiting')"
    )
    if dialect.is_postgresql():
        for function in FUNCTIONS:
            op.execute(function)


def downgrade() -> None:
    if dialect.is_postgresql():
        op.execute(
            "DROP FUNCTION waitline_join_batch(text, uuid[], text[], text[], integer[], text[], text[], "
            "float8[], integer[], text[], float8[], float8[])"
        )
        op.execute(next(sql for sql in _revision_module("0005").FUNCTIONS if "waitline_append_event(" in sql))
        op.execute(_revision_module("0007").JOIN_FUNCTION)
        op.execute(_revision_module("0011").ENQUEUE_FUNCTION)
    with op.batch_alter_table("token_sequence") as table:
        table.drop_column("waiting")


def _revision_module(revision_id: str) -> Any:
    """An earlier revision's module, to take its frozen SQL from rather than copy it here."""
    script = op.get_context().script
    assert script is not None
    found = script.get_revision(revision_id)
    assert found is not None and found.module is not None
    return found.module


# Frozen copies of store/sql/ as of this revision, in the order they can be created.
FUNCTIONS = (
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
    -- The counter row also keeps how many parties wait, so that a join's position and the queue-full check
    -- count nothing under the lock: a join adds one; a call, or a cancel or leave before the party was
    -- called, takes one away. Updated before the event is inserted: the outbox trigger reads it.
    UPDATE token_sequence s
    SET last_seq = v_event.seq, last_hash = v_event.hash, last_token = coalesce(p_last_token, s.last_token),
        waiting = s.waiting + CASE
            WHEN p_type = 'joined' THEN 1
            WHEN p_type = 'called' THEN -1
            WHEN p_type IN ('left', 'cancelled') THEN coalesce((
                SELECT CASE WHEN e.called_at IS NULL THEN -1 ELSE 0 END
                FROM queue_entry e WHERE e.id = p_entry_id
            ), 0)
            ELSE 0
        END
    WHERE s.restaurant_id = p_restaurant_id;
    INSERT INTO queue_event SELECT v_event.*;
    RETURN v_event;
END;
$$;
""",
    """
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
    v_waiting bigint;
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
            SELECT s.last_token, s.waiting INTO v_last_token, v_waiting
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
                -- Read under the counter lock (kept by waitline_append_event): racing joins see each other's
                -- entries, none overshoots, and nothing is counted however long the queue.
                ELSIF v_max_waiting IS NOT NULL AND v_waiting >= v_max_waiting THEN
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
        -- A new entry has the highest token: every waiting party is ahead of it or it. A replay counts.
        CASE WHEN v_outcome = 'created' THEN v_waiting + 1 ELSE (
            SELECT count(*) FROM queue_entry w WHERE w.restaurant_id = v_restaurant_id
                AND w.status = 'waiting' AND w.token_number <= v_entry.token_number
        ) END,
        v_entry.created_at, v_entry.called_at, v_entry.finished_at, v_tats,
        v_event.seq, v_event.at, v_event.prev_hash, v_event.hash;
END;
$$;
""",
    """
-- Several joins of ONE restaurant in one transaction and one round trip (services/join_batching.py gathers
-- them within a process): each join decides as waitline_join would, in array order. The counter row is
-- locked once for all of them; each join that gets that far runs in its own sub-block (a savepoint), so a
-- join that fails there (a constraint, bad data) rolls back alone, is returned as 'failed' with its SQLSTATE,
-- and the others go on. Tokens and event seqs stay contiguous: a join takes the next token only once
-- nothing of its own can fail any more.
--
-- p_limit_counts[i] says how many of the flat p_limit_* arrays belong to join i (in order).
CREATE OR REPLACE FUNCTION waitline_join_batch(
    p_slug text,
    p_entry_ids uuid[],
    p_names text[],
    p_mobiles text[],
    p_party_sizes integer[],
    p_idempotency_keys text[],
    p_fingerprints text[],
    p_nows float8[],
    p_limit_counts integer[],
    p_limit_keys text[],
    p_limit_intervals float8[],
    p_limit_tolerances float8[]
) RETURNS TABLE (
    ordinal integer,
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
    event_hash text,
    error_state text,
    error_constraint text
) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_count integer := coalesce(cardinality(p_entry_ids), 0);
    v_restaurant_id uuid;
    v_queue_open boolean;
    v_max_waiting integer;
    v_max_party integer;
    v_zone text;
    v_hours jsonb;
    v_closed jsonb;
    v_local timestamp;
    v_hours_refusal text;
    v_decided boolean[] := array_fill(false, ARRAY[v_count]);
    v_first_limit integer[] := array_fill(1, ARRAY[v_count]);
    v_last_token bigint;
    v_waiting bigint;
    v_entry queue_entry%ROWTYPE;
    v_event queue_event%ROWTYPE;
    v_outcome text;
    v_position bigint;
    v_allowed boolean;
    v_tats float8[];
    v_state text;
    v_constraint text;
    v_from integer;
    v_to integer;
    v_limit_keys text[] := '{}';
BEGIN
    SELECT r.id, r.queue_open, r.max_waiting, r.max_party_size, r.time_zone, r.opening_hours::jsonb,
           r.closed_dates::jsonb
    INTO v_restaurant_id, v_queue_open, v_max_waiting, v_max_party, v_zone, v_hours, v_closed
    FROM restaurant r WHERE r.slug = p_slug;
    IF NOT FOUND THEN
        RETURN;  -- no row at all: unknown restaurant
    END IF;
    FOR i IN 2..v_count LOOP
        v_first_limit[i] := v_first_limit[i - 1] + p_limit_counts[i - 1];
    END LOOP;

    -- The same hours for every join of the batch: now() is the transaction's start.
    v_local := now() AT TIME ZONE v_zone;
    IF NOT v_queue_open THEN
        v_hours_refusal := 'closed';
    ELSIF (v_closed IS NOT NULL AND v_closed @> jsonb_build_array(to_char(v_local, 'YYYY-MM-DD')))
        OR (v_hours IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM jsonb_array_elements(coalesce(
                v_hours -> (ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])
                    [extract(isodow FROM v_local)::int],
                '[]'::jsonb)) span
            WHERE v_local::time >= (span ->> 0)::time AND v_local::time < (span ->> 1)::time
        )) THEN
        v_hours_refusal := 'outside_hours';
    END IF;

    -- Before the lock: replays of entries already committed, and refusals that need no lock.
    FOR i IN 1..v_count LOOP
        v_outcome := NULL;
        SELECT * INTO v_entry FROM queue_entry e
        WHERE e.restaurant_id = v_restaurant_id AND e.idempotency_key = p_idempotency_keys[i];
        IF FOUND THEN
            v_outcome := 'replayed';
        ELSIF v_hours_refusal = 'closed' THEN
            v_outcome := 'closed';
        ELSIF v_max_party IS NOT NULL AND p_party_sizes[i] > v_max_party THEN
            v_outcome := 'too_large';
        ELSIF v_hours_refusal IS NOT NULL THEN
            v_outcome := v_hours_refusal;
        END IF;
        IF v_outcome IS NOT NULL THEN
            v_decided[i] := true;
            RETURN QUERY SELECT i, v_outcome, v_entry.id, v_restaurant_id, v_entry.token_number,
                v_entry.name, v_entry.mobile, v_entry.party_size, v_entry.status, v_entry.request_fingerprint,
                (SELECT count(*) FROM queue_entry w WHERE w.restaurant_id = v_restaurant_id
                    AND w.status = 'waiting' AND w.token_number <= v_entry.token_number),
                v_entry.created_at, v_entry.called_at, v_entry.finished_at, NULL::float8[],
                NULL::bigint, NULL::timestamptz, NULL::text, NULL::text, NULL::text, NULL::text;
        END IF;
    END LOOP;
    IF v_decided = array_fill(true, ARRAY[v_count]) THEN
        RETURN;
    END IF;

    -- The counter row lock serialises every change of one restaurant until this transaction ends, once for
    -- the whole batch. The counter row keeps how many parties wait (nothing is counted); each join of the
    -- batch adds its own.
    SELECT s.last_token, s.waiting INTO v_last_token, v_waiting
    FROM token_sequence s WHERE s.restaurant_id = v_restaurant_id FOR UPDATE;

    -- Every rate-limit row the remaining joins count against, locked now, all in key order, as
    -- waitline_hit_limits locks one join's: a client address is shared by every restaurant, and two batches
    -- locking their joins' rows one join at a time could each wait for a row the other holds.
    FOR i IN 1..v_count LOOP
        IF NOT v_decided[i] AND p_limit_counts[i] > 0 THEN
            v_from := v_first_limit[i];
            v_to := v_from + p_limit_counts[i] - 1;
            v_limit_keys := v_limit_keys || p_limit_keys[v_from:v_to];
        END IF;
    END LOOP;
    IF cardinality(v_limit_keys) > 0 THEN
        INSERT INTO rate_limit AS r (key, tat)
        SELECT DISTINCT k, 0 FROM unnest(v_limit_keys) AS k ORDER BY k
        ON CONFLICT (key) DO UPDATE SET tat = r.tat;
    END IF;

    FOR i IN 1..v_count LOOP
        CONTINUE WHEN v_decided[i];
        v_outcome := 'replayed';
        v_position := NULL;
        v_tats := NULL;
        v_state := NULL;
        v_constraint := NULL;
        v_event := NULL;
        BEGIN
            -- A copy committed while we waited for the lock, or an earlier join of this very batch.
            SELECT * INTO v_entry FROM queue_entry e
            WHERE e.restaurant_id = v_restaurant_id AND e.idempotency_key = p_idempotency_keys[i];
            IF FOUND THEN
                v_position := (SELECT count(*) FROM queue_entry w WHERE w.restaurant_id = v_restaurant_id
                    AND w.status = 'waiting' AND w.token_number <= v_entry.token_number);
            ELSIF EXISTS (
                SELECT 1 FROM queue_entry e
                WHERE e.restaurant_id = v_restaurant_id AND e.mobile = p_mobiles[i]
                  AND e.status IN ('waiting', 'called')
            ) THEN
                v_outcome := 'already_queued';
            ELSIF v_max_waiting IS NOT NULL AND v_waiting >= v_max_waiting THEN
                v_outcome := 'full';
            ELSE
                v_from := v_first_limit[i];
                v_to := v_from + p_limit_counts[i] - 1;
                SELECT l.allowed, l.tats INTO v_allowed, v_tats
                FROM waitline_hit_limits(
                    p_nows[i], p_limit_keys[v_from:v_to], p_limit_intervals[v_from:v_to],
                    p_limit_tolerances[v_from:v_to]
                ) l;
                IF NOT v_allowed THEN
                    v_outcome := 'rate_limited';
                ELSE
                    INSERT INTO queue_entry AS e (id, restaurant_id, token_number, name, mobile, party_size,
                                                  status, idempotency_key, request_fingerprint)
                    VALUES (p_entry_ids[i], v_restaurant_id, v_last_token + 1, p_names[i], p_mobiles[i],
                            p_party_sizes[i], 'waiting', p_idempotency_keys[i], p_fingerprints[i])
                    RETURNING * INTO v_entry;
                    v_event := waitline_append_event(
                        v_restaurant_id, 'joined', v_entry.id, v_entry.token_number, 'guest', NULL,
                        NULL, NULL, v_entry.token_number
                    );
                    -- Last: PL/pgSQL variables are not rolled back with the sub-block, so a join that
                    -- failed above must not have moved them.
                    v_last_token := v_entry.token_number;
                    v_waiting := v_waiting + 1;
                    v_position := v_waiting;
                    v_outcome := 'created';
                END IF;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_constraint = CONSTRAINT_NAME;
            v_outcome := 'failed';
            v_event := NULL;
        END;
        IF v_outcome NOT IN ('replayed', 'created') THEN
            v_entry := NULL;
        END IF;
        RETURN QUERY SELECT i, v_outcome, v_entry.id, v_restaurant_id, v_entry.token_number,
            v_entry.name, v_entry.mobile, v_entry.party_size, v_entry.status, v_entry.request_fingerprint,
            v_position, v_entry.created_at, v_entry.called_at, v_entry.finished_at, v_tats,
            v_event.seq, v_event.at, v_event.prev_hash, v_event.hash, v_state, nullif(v_constraint, '');
    END LOOP;
END;
$$;
""",
    """
-- The outbox is written by the event that causes its messages, in the same statement and transaction: an
-- AFTER INSERT trigger on queue_event, so every way an event is appended (waitline_join,
-- waitline_call_next, waitline_append_event) enqueues without a round trip of its own, and a rolled-back
-- change leaves no message behind. The SQLite twins are the triggers outbox_enqueue and outbox_almost_up of
-- migration 0011.
--
-- joined -> joined; called -> table_ready, and a reminder due at half the hold window; no_show, left and
-- cancelled -> the same. A party that moves up to position N (restaurant.notify_almost_up) because a party
-- ahead of it left the waiting list gets almost_up, once per channel (the unique index
-- outbox_almost_up_once on entry and channel; waitline_channel_twins writes the email and push twins).
-- The position the guest was at when the event happened is kept with joined and almost_up (the text says it,
-- whenever it is sent). A number that replied STOP still gets its SMS row, which the worker settles as
-- skipped ("the number opted out"): STOP is Twilio's opt-out from that number's texts only, so the row is
-- what the guest's email and push twins are made from.
CREATE OR REPLACE FUNCTION waitline_enqueue_messages() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_notify boolean;
    v_position integer;
    v_hold integer;
    v_kind text;
BEGIN
    SELECT r.notify, r.notify_almost_up, r.hold_minutes INTO v_notify, v_position, v_hold
    FROM restaurant r WHERE r.id = NEW.restaurant_id;
    IF NOT v_notify OR NEW.entry_id IS NULL THEN
        RETURN NULL;
    END IF;
    v_kind := CASE NEW.type
        WHEN 'joined' THEN 'joined'
        WHEN 'called' THEN 'table_ready'
        WHEN 'no_show' THEN 'no_show'
        WHEN 'left' THEN 'left'
        WHEN 'cancelled' THEN 'cancelled'
    END;
    IF v_kind IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position)
    SELECT NEW.restaurant_id, e.id, NEW.seq, v_kind, 'sms', e.mobile,
           -- A joined party is the last of the waiting ones: the counter row's count, already updated.
           CASE WHEN v_kind = 'joined' THEN (
               SELECT s.waiting FROM token_sequence s WHERE s.restaurant_id = NEW.restaurant_id
           ) END
    FROM queue_entry e
    WHERE e.id = NEW.entry_id;
    -- A call also schedules the reminder at half the hold window (the worker drops it if the guest has
    -- confirmed or moved on by then).
    IF NEW.type = 'called' THEN
        INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, due_at)
        SELECT NEW.restaurant_id, e.id, NEW.seq, 'reminder', 'sms', e.mobile,
               now() + v_hold * interval '30 seconds'
        FROM queue_entry e
        WHERE e.id = NEW.entry_id AND v_hold > 0;
    END IF;
    -- A party left the waiting list from ahead of others (a call, or leaving before being called).
    IF NEW.type IN ('called', 'left', 'cancelled') AND v_position > 0 AND (
        NEW.type = 'called' OR (SELECT e.called_at FROM queue_entry e WHERE e.id = NEW.entry_id) IS NULL
    ) THEN
        INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position)
        SELECT NEW.restaurant_id, w.id, NEW.seq, 'almost_up', 'sms', w.mobile, v_position
        FROM (
            SELECT e.id, e.mobile, e.token_number FROM queue_entry e
            WHERE e.restaurant_id = NEW.restaurant_id AND e.status = 'waiting'
            ORDER BY e.token_number
            LIMIT 1 OFFSET v_position - 1
        ) w
        WHERE w.token_number > NEW.token_number
        ON CONFLICT (entry_id, channel) WHERE kind = 'almost_up' DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;
""",
)
