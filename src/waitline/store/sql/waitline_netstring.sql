-- One field of an event's canonical encoding: '<byte length>:<utf-8 bytes>,' or '-,' for NULL.
-- STABLE, as what it calls (convert_to) is: declared IMMUTABLE it was not inlined into its callers, and
-- ran as a call of its own per field (11 per event).
-- The Python twin is waitline.domain.event._netstring; `waitline events verify` checks that they agree.
CREATE OR REPLACE FUNCTION waitline_netstring(p_value text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_value IS NULL THEN '-,'
                ELSE octet_length(convert_to(p_value, 'UTF8'))::text || ':' || p_value || ','
           END
$$;
