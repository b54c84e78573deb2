-- The event log is append-only: the triggers queue_event_append_only (rows) and queue_event_no_truncate
-- call this before any UPDATE, DELETE or TRUNCATE of queue_event.
CREATE OR REPLACE FUNCTION waitline_refuse_event_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'queue_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
