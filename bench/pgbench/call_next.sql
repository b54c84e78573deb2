-- Call-next as waitline issues it: its one statement (_CLAIM_NEXT in src/waitline/store/queries.py), for a
-- random restaurant of :restaurants (1 or 1000) from :first, no table size given. Run with -M prepared.
\set r random(:first, :first + :restaurants - 1)
UPDATE queue_entry SET status = 'called', called_at = now()
WHERE id = (
    SELECT id FROM queue_entry
    WHERE restaurant_id = CAST('00000000-0000-4000-8000-' || lpad(CAST(:r AS text), 12, '0') AS uuid)
      AND status = 'waiting'
      AND (CAST(NULL AS INTEGER) IS NULL OR party_size <= NULL)
    ORDER BY token_number
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, restaurant_id, token_number, name, mobile, party_size, status,
          created_at, called_at, finished_at, NULL AS position;
