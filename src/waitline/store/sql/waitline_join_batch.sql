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
