-- The join as waitline issues it: ONE call of waitline_join with a new guest (its own idempotency key,
-- mobile number and client address) and both rate-limit checks (per-ip 100000000/minute, per-mobile
-- 3/hour: interval and tolerance in seconds). Run with -M prepared -D restaurants=1000 -D first=1 (or restaurants=1: one hot queue, restaurant :first).
\set r random(:first, :first + :restaurants - 1)
\set n random(1, 999999999999)
SELECT * FROM waitline_join(
    'r' || CAST(:r AS text),
    gen_random_uuid(),
    'G pgbench-' || CAST(:client_id AS text) || '-' || CAST(:n AS text),
    '+4478' || lpad(CAST(:n AS text), 12, '0'),
    CAST(1 + CAST(:n AS bigint) % 6 AS integer),
    'pgbench-' || CAST(:client_id AS text) || '-' || CAST(:n AS text),
    md5(CAST(:n AS text)) || md5(CAST(:r AS text)),
    extract(epoch FROM clock_timestamp())::float8,
    ARRAY['ip:198.18.' || CAST(CAST(:n AS bigint) % 250 AS text) || '.' || CAST(CAST(:n AS bigint) / 250 % 250 AS text),
          'mobile:' || 'r' || CAST(:r AS text) || ':' || left(md5(CAST(:n AS text)), 32)],
    ARRAY[6e-7, 1200]::float8[],
    ARRAY[59.9999994, 2400]::float8[]
);
