-- Call-next as waitline issues it: its one statement (_CALL_NEXT_POSTGRESQL in src/waitline/store/calls.py:
-- waitline_call_next claims the lowest waiting token and appends its `called` event), for a random
-- restaurant of :restaurants (1 or 1000) from :first, no table size given, by an API token (the actor id
-- stands in for the token's). Run with -M prepared.
\set r random(:first, :first + :restaurants - 1)
SELECT *, NULL AS position FROM waitline_call_next(
    CAST('00000000-0000-4000-8000-' || lpad(CAST(:r AS text), 12, '0') AS uuid),
    CAST(NULL AS integer), 'api_token', 'pgbench-' || CAST(:client_id AS text), NULL
);
