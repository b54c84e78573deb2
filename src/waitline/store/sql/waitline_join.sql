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
