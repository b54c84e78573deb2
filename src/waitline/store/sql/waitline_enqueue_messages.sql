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
