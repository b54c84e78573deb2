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
