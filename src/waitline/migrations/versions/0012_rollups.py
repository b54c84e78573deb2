"""Analytics rollups: counts and wait histograms per location and local day (and month), kept by the event
log, so that a year of history answers from thousands of rows (domain/rollup.py says what they hold).

- ``analytics_count`` (restaurant_id, day, type) -> events.
- ``analytics_wait`` (restaurant_id, span, period, dimension, key, measure, minute) -> parties: span 1 a
  local day, 2 a local month (period: its first day); dimension 0 the hour of the week, 1 the party size;
  measure 0 joined, 1 whole minutes to call, 2 whole minutes to seat, 3 quoted, 4 waited inside the quote.
- Written in the same transaction as each event by a trigger on ``queue_event`` (PostgreSQL:
  ``waitline_roll_up_event``, a frozen copy of store/sql/; SQLite: its twin below, calling the functions
  that store/sqlite_functions.py registers on every connection).
- Backfilled here from the events and entries already stored, in each location's time zone.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from waitline.migrations import dialect

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


WAIT_KEY = ("restaurant_id", "span", "period", "dimension", "key", "measure", "minute")


def upgrade() -> None:
    day_type = sa.Date() if dialect.is_postgresql() else sa.Text()
    # The key in the order a range is read (location, span, period; the rest makes rows unique), and the
    # count with it: on PostgreSQL the primary key INCLUDEs it (index-only scans), on SQLite the table is
    # the key's own B-tree (WITHOUT ROWID): either way a range is one contiguous read.
    op.create_table(
        "analytics_count",
        dialect.restaurant_fk(),
        sa.Column("day", day_type, nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        *_primary_key("analytics_count", ("restaurant_id", "day", "type")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "analytics_wait",
        dialect.restaurant_fk(),
        sa.Column("span", sa.SmallInteger(), nullable=False),
        sa.Column("period", day_type, nullable=False),
        sa.Column("dimension", sa.SmallInteger(), nullable=False),
        sa.Column("key", sa.SmallInteger(), nullable=False),
        sa.Column("measure", sa.SmallInteger(), nullable=False),
        sa.Column("minute", sa.SmallInteger(), nullable=False),
        sa.Column("parties", sa.Integer(), nullable=False),
        *_primary_key("analytics_wait", WAIT_KEY),
        sqlite_with_rowid=False,
    )
    if dialect.is_postgresql():
        for table, key, count in (
            ("analytics_count", ("restaurant_id", "day", "type"), "events"),
            ("analytics_wait", WAIT_KEY, "parties"),
        ):
            op.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({', '.join(key)}) "
                f"INCLUDE ({count})"
            )
    if dialect.is_postgresql():
        op.execute(ROLL_UP_FUNCTION)
        op.execute(
            "CREATE TRIGGER queue_event_roll_up AFTER INSERT ON queue_event "
            "FOR EACH ROW EXECUTE FUNCTION waitline_roll_up_event()"
        )
        op.execute(BACKFILL_COUNTS.format(day="(q.at AT TIME ZONE r.time_zone)::date", restaurants=EVERY))
        op.execute(BACKFILL_WAITS.format(**POSTGRESQL_PARTS, restaurants=EVERY))
    else:
        from waitline.store import sqlite_functions

        # The connection migrating may predate the functions (a database opened by an older waitline).
        sqlite_functions.register(op.get_bind().connection.dbapi_connection)
        op.execute(SQLITE_ROLL_UP)
        op.execute(BACKFILL_COUNTS.format(day="waitline_local_day(q.at, r.time_zone)", restaurants=EVERY))
        op.execute(BACKFILL_WAITS.format(**SQLITE_PARTS, restaurants=EVERY))


def _primary_key(table: str, key: tuple[str, ...]) -> list[sa.PrimaryKeyConstraint]:
    """SQLite's, made with the table; PostgreSQL's is added after it, with INCLUDE."""
    return [] if dialect.is_postgresql() else [sa.PrimaryKeyConstraint(*key, name=f"{table}_pkey")]


def downgrade() -> None:
    if dialect.is_postgresql():
        op.execute("DROP TRIGGER queue_event_roll_up ON queue_event")
        op.execute("DROP FUNCTION waitline_roll_up_event()")
    else:
        op.execute("DROP TRIGGER analytics_roll_up")
    op.drop_table("analytics_wait")
    op.drop_table("analytics_count")


# {restaurants}: the locations to add up (bench/history.py adds up one it wrote in bulk).
EVERY = "SELECT id FROM restaurant"
BACKFILL_COUNTS = """
INSERT INTO analytics_count (restaurant_id, day, type, events)
SELECT q.restaurant_id, {day}, q.type, count(*)
FROM queue_event q JOIN restaurant r ON r.id = q.restaurant_id
WHERE q.restaurant_id IN ({restaurants})
GROUP BY 1, 2, 3
"""
# Each entry's rows for the backfill: its location (for the zone), both spans, both dimensions, every
# measure (the WHERE keeps those that apply).
_ROWS_OF_EACH_ENTRY = """FROM queue_entry e
    JOIN restaurant r ON r.id = e.restaurant_id
    CROSS JOIN (SELECT 1 AS span UNION ALL SELECT 2) s
    CROSS JOIN (SELECT 0 AS dimension UNION ALL SELECT 1) d
    CROSS JOIN (SELECT 0 AS measure UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3
                UNION ALL SELECT 4) m"""
# From the entries, as the trigger would have counted their joined, called and seated events.
BACKFILL_WAITS = """
INSERT INTO analytics_wait (restaurant_id, span, period, dimension, key, measure, minute, parties)
SELECT restaurant_id, span, period, dimension, key, measure, minute, count(*)
FROM (
    SELECT e.restaurant_id, s.span,
           CASE s.span WHEN 1 THEN {day} ELSE {month} END AS period,
           d.dimension, CASE d.dimension WHEN 0 THEN {hour} ELSE e.party_size END AS key,
           m.measure,
           CASE m.measure WHEN 1 THEN {call_minute} WHEN 2 THEN {seat_minute} ELSE 0 END AS minute
    {rows_of_each_entry}
    WHERE e.restaurant_id IN ({restaurants}) AND (m.measure = 0
       OR (m.measure = 1 AND e.called_at IS NOT NULL)
       OR (m.measure = 2 AND e.status = 'seated' AND e.finished_at IS NOT NULL)
       OR (m.measure = 3 AND e.status = 'seated' AND e.finished_at IS NOT NULL
           AND e.quoted_high_minutes IS NOT NULL)
       OR (m.measure = 4 AND e.status = 'seated' AND e.finished_at IS NOT NULL
           AND e.quoted_high_minutes IS NOT NULL
           AND {seat_rounded} BETWEEN e.quoted_low_minutes AND e.quoted_high_minutes))
) facts
GROUP BY 1, 2, 3, 4, 5, 6, 7
""".replace("{rows_of_each_entry}", _ROWS_OF_EACH_ENTRY)
_LOCAL = "(e.created_at AT TIME ZONE r.time_zone)"
POSTGRESQL_PARTS = {
    "day": f"{_LOCAL}::date",
    "month": f"date_trunc('month', {_LOCAL})::date",
    "hour": f"((date_part('isodow', {_LOCAL}) - 1) * 24 + date_part('hour', {_LOCAL}))::smallint",
    "call_minute": "floor(date_part('epoch', e.called_at - e.created_at) / 60)",
    "seat_minute": "floor(date_part('epoch', e.finished_at - e.created_at) / 60)",
    "seat_rounded": "floor(date_part('epoch', e.finished_at - e.created_at) / 60 + 0.5)",
}
SQLITE_PARTS = {
    "day": "waitline_local_day(e.created_at, r.time_zone)",
    "month": "waitline_local_month(e.created_at, r.time_zone)",
    "hour": "waitline_hour_of_week(e.created_at, r.time_zone)",
    "call_minute": "waitline_wait_minute(e.created_at, e.called_at)",
    "seat_minute": "waitline_wait_minute(e.created_at, e.finished_at)",
    "seat_rounded": "waitline_wait_rounded(e.created_at, e.finished_at)",
}

# The SQLite twin of waitline_roll_up_event (store/sql/), run in the appending transaction.
SQLITE_ROLL_UP = """
CREATE TRIGGER analytics_roll_up AFTER INSERT ON queue_event
BEGIN
    INSERT INTO analytics_count (restaurant_id, day, type, events)
    SELECT NEW.restaurant_id, waitline_local_day(NEW.at, r.time_zone), NEW.type, 1
    FROM restaurant r WHERE r.id = NEW.restaurant_id
    ON CONFLICT (restaurant_id, day, type) DO UPDATE SET events = events + 1;
    -- The entry's local times and waits computed once (LIMIT 1 keeps SQLite from copying the function
    -- calls into each of the up to twenty rows below), then one row per span, dimension and measure.
    INSERT INTO analytics_wait (restaurant_id, span, period, dimension, key, measure, minute, parties)
    SELECT NEW.restaurant_id, s.span, CASE s.span WHEN 1 THEN x.day ELSE x.month END,
           d.dimension, CASE d.dimension WHEN 0 THEN x.hour ELSE x.party_size END,
           m.measure, CASE m.measure WHEN 1 THEN x.call_minute WHEN 2 THEN x.seat_minute ELSE 0 END, 1
    FROM (
        SELECT e.party_size, e.called_at, e.finished_at, e.quoted_low_minutes, e.quoted_high_minutes,
               waitline_local_day(e.created_at, r.time_zone) AS day,
               waitline_local_month(e.created_at, r.time_zone) AS month,
               waitline_hour_of_week(e.created_at, r.time_zone) AS hour,
               CASE WHEN NEW.type = 'called' AND e.called_at IS NOT NULL
                    THEN waitline_wait_minute(e.created_at, e.called_at) END AS call_minute,
               CASE WHEN NEW.type = 'seated' AND e.finished_at IS NOT NULL
                    THEN waitline_wait_minute(e.created_at, e.finished_at) END AS seat_minute,
               CASE WHEN NEW.type = 'seated' AND e.finished_at IS NOT NULL
                    THEN waitline_wait_rounded(e.created_at, e.finished_at) END AS seat_rounded
        FROM queue_entry e JOIN restaurant r ON r.id = e.restaurant_id
        WHERE e.id = NEW.entry_id AND NEW.type IN ('joined', 'called', 'seated')
        LIMIT 1
    ) x
    CROSS JOIN (SELECT 1 AS span UNION ALL SELECT 2) s
    CROSS JOIN (SELECT 0 AS dimension UNION ALL SELECT 1) d
    CROSS JOIN (SELECT 0 AS measure UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3
                UNION ALL SELECT 4) m
    WHERE (m.measure = 0 AND NEW.type = 'joined')
       OR (m.measure = 1 AND x.call_minute IS NOT NULL)
       OR (m.measure IN (2, 3, 4) AND x.seat_minute IS NOT NULL
           AND (m.measure = 2 OR x.quoted_high_minutes IS NOT NULL)
           AND (m.measure < 4 OR x.seat_rounded BETWEEN x.quoted_low_minutes AND x.quoted_high_minutes))
    ON CONFLICT (restaurant_id, span, period, dimension, key, measure, minute)
    DO UPDATE SET parties = parties + 1;
END
"""

ROLL_UP_FUNCTION = """
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
"""
