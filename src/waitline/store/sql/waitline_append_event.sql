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
