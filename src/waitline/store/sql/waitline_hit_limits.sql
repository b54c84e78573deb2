-- GCRA for several keys at once, all or nothing: a request refused by one policy is counted by none.
-- The Python twin for SQLite is waitline.store.limits._hit_limits_sqlite.
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
