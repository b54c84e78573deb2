-- The analytics' rollups are written by the event they count, in the same statement and transaction: an
-- AFTER INSERT trigger on queue_event (like the outbox's), under the location's counter lock that every
-- append holds, so a rolled-back change leaves nothing counted and two appends never race on a row. The
-- SQLite twin is the trigger analytics_roll_up of migration 0011 (domain/rollup.py says what is kept).
--
-- Every event: +1 on (local day of the event, type). The entry's joined, called and seated events: +1 on
-- the histograms of the local day and month the party joined in, by its hour of the week and by its size:
-- joined counts the party; called its whole minutes from join to call; seated its whole minutes from join
-- to seat, and whether it was quoted a range and waited inside it (rounded to the nearest minute).
CREATE OR REPLACE FUNCTION waitline_roll_up_event() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_zone text;
    v_entry queue_entry%ROWTYPE;
    v_local timestamp;
    v_hour smallint;
    v_minute smallint;
    v_measures smallint[];
BEGIN
    SELECT r.time_zone INTO v_zone FROM restaurant r WHERE r.id = NEW.restaurant_id;
    INSERT INTO analytics_count AS c (restaurant_id, day, type, events)
    VALUES (NEW.restaurant_id, (NEW.at AT TIME ZONE v_zone)::date, NEW.type, 1)
    ON CONFLICT (restaurant_id, day, type) DO UPDATE SET events = c.events + 1;
    IF NEW.entry_id IS NULL OR NEW.type NOT IN ('joined', 'called', 'seated') THEN
        RETURN NULL;
    END IF;
    SELECT * INTO v_entry FROM queue_entry e WHERE e.id = NEW.entry_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    v_local := v_entry.created_at AT TIME ZONE v_zone;
    v_hour := ((date_part('isodow', v_local) - 1) * 24 + date_part('hour', v_local))::smallint;
    v_minute := 0;
    IF NEW.type = 'joined' THEN
        v_measures := ARRAY[0];
    ELSIF NEW.type = 'called' AND v_entry.called_at IS NOT NULL THEN
        v_measures := ARRAY[1];
        v_minute := floor(date_part('epoch', v_entry.called_at - v_entry.created_at) / 60);
    ELSIF NEW.type = 'seated' AND v_entry.finished_at IS NOT NULL THEN
        v_measures := ARRAY[2];
        v_minute := floor(date_part('epoch', v_entry.finished_at - v_entry.created_at) / 60);
        IF v_entry.quoted_high_minutes IS NOT NULL THEN
            v_measures := v_measures || 3::smallint;
            IF floor(date_part('epoch', v_entry.finished_at - v_entry.created_at) / 60 + 0.5)
               BETWEEN v_entry.quoted_low_minutes AND v_entry.quoted_high_minutes THEN
                v_measures := v_measures || 4::smallint;
            END IF;
        END IF;
    ELSE
        RETURN NULL;
    END IF;
    INSERT INTO analytics_wait AS w (restaurant_id, span, period, dimension, key, measure, minute, parties)
    SELECT NEW.restaurant_id, s.span, s.period, d.dimension, d.key, m.measure,
           CASE WHEN m.measure IN (1, 2) THEN v_minute ELSE 0 END, 1
    FROM (VALUES (1::smallint, v_local::date),
                 (2::smallint, date_trunc('month', v_local)::date)) s(span, period),
         (VALUES (0::smallint, v_hour), (1::smallint, v_entry.party_size::smallint)) d(dimension, key),
         unnest(v_measures) m(measure)
    ON CONFLICT (restaurant_id, span, period, dimension, key, measure, minute)
    DO UPDATE SET parties = w.parties + 1;
    RETURN NULL;
END;
$$;
