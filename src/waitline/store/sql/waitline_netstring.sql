-- One field of an event's canonical encoding: '<byte length>:<utf-8 bytes>,' or '-,' for NULL.
-- The Python twin is waitline.domain.event._netstring; `waitline events verify` checks that they agree.
CREATE OR REPLACE FUNCTION waitline_netstring(p_value text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_value IS NULL THEN '-,'
                ELSE octet_length(convert_to(p_value, 'UTF8'))::text || ':' || p_value || ','
           END
$$;
