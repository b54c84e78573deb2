-- sha256(previous hash || canonical encoding of the event), as hex; the Python twin is
-- waitline.domain.event.Event.expected_hash. Times enter as whole microseconds since the epoch.
CREATE OR REPLACE FUNCTION waitline_event_hash(
    p_prev_hash text,
    p_restaurant_id uuid,
    p_seq bigint,
    p_type text,
    p_entry_id uuid,
    p_token_number bigint,
    p_actor_kind text,
    p_actor_id text,
    p_reason text,
    p_details text,
    p_at timestamptz
) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT encode(sha256(decode(p_prev_hash, 'hex') || convert_to(
        waitline_netstring('1')
        || waitline_netstring(p_restaurant_id::text)
        || waitline_netstring(p_seq::text)
        || waitline_netstring(p_type)
        || waitline_netstring(p_entry_id::text)
        || waitline_netstring(p_token_number::text)
        || waitline_netstring(p_actor_kind)
        || waitline_netstring(p_actor_id)
        || waitline_netstring(p_reason)
        || waitline_netstring(p_details)
        || waitline_netstring((extract(epoch FROM p_at) * 1000000)::bigint::text),
        'UTF8')), 'hex')
$$;
