-- Email and web push go with every text (issue 9): each message the queue_event trigger writes to the outbox
-- for the SMS channel gets a twin row for the email channel when the guest gave an address (guest_email),
-- and one for the push channel when the guest's browser subscribed (push_subscription), in the same
-- statement. Per-channel rows, so each channel has its own state, attempts, reason and retries, and the
-- worker's claim, lease and "once" guarantees hold for every channel as for texts. The twins carry no
-- idempotency key (the resend's key is unique per restaurant). "Almost up" is once per entry and channel
-- (outbox_almost_up_once): its SMS row is written only once (ON CONFLICT DO NOTHING fires no trigger), and
-- a twin that would be a second one is dropped the same way. The SQLite twin is the trigger
-- outbox_channel_twins of migration 0011.
CREATE OR REPLACE FUNCTION waitline_channel_twins() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position, due_at)
    SELECT NEW.restaurant_id, NEW.entry_id, NEW.event_seq, NEW.kind, 'email', g.email, NEW.position,
           NEW.due_at
    FROM guest_email g
    WHERE g.entry_id = NEW.entry_id
    ON CONFLICT DO NOTHING;
    INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position, due_at)
    SELECT NEW.restaurant_id, NEW.entry_id, NEW.event_seq, NEW.kind, 'push', p.endpoint, NEW.position,
           NEW.due_at
    FROM push_subscription p
    WHERE p.entry_id = NEW.entry_id
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
