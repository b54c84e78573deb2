"""The analytics' reads: counts from the event log, waits from the entries, the quote a join was given,
and the pages of the CSV exports. Every read is bounded by a location and a date range, on the indexes of
migration 0008 (queue_event_analytics_idx, queue_entry_analytics_idx).

Waits on PostgreSQL: ``percentile_cont`` over GROUPING SETS (hour of week, party size, all) in ONE statement,
with the hour taken in the location's time zone (``AT TIME ZONE``). ``date_part`` (float8), not ``extract``
(numeric since PostgreSQL 14, several times slower per row); one sort per column and group for both
percentiles (the ARRAY form); the rows grouped are narrow (int2, float4: minutes to ~1e-7), so that
their sorts spill less. SQLite has neither percentiles nor time
zones: it reads the range's entries (the same index, at most ``SQLITE_ENTRY_LIMIT`` rows) and
``domain.analytics.summarise`` computes the same figures in Python.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain.analytics import Counts, EntryFact, Sample, Waits, WaitStats, summarise
from waitline.store.statement import Statement, is_postgresql
from waitline.store.values import moment

SQLITE_ENTRY_LIMIT = 200_000

_COUNTS = Statement(
    """
    SELECT type, count(*) AS number FROM queue_event
    WHERE restaurant_id IN :restaurant_ids AND at >= :start AND at < :end
    GROUP BY type
    """,
    "restaurant_ids",
)
_RANGE = "restaurant_id IN :restaurant_ids AND created_at >= :start AND created_at < :end"
_FACT_COLUMNS = (
    "created_at, status, party_size, called_at, finished_at, position_at_join, quoted_low_minutes, "
    "quoted_high_minutes"
)
_FACTS = Statement(
    f"SELECT {_FACT_COLUMNS} FROM queue_entry WHERE {_RANGE} ORDER BY created_at LIMIT :limit",
    "restaurant_ids",
)
# Minutes waited, and whether the wait (rounded to the minute) fell inside the quote: domain.analytics.inside.
_WAITS_POSTGRESQL = Statement(
    f"""
    WITH w AS (
        SELECT party_size::int2 AS party_size,
               ((date_part('isodow', created_at AT TIME ZONE :zone) - 1) * 24
                + date_part('hour', created_at AT TIME ZONE :zone))::int2 AS hour_of_week,
               (date_part('epoch', called_at - created_at) / 60)::float4 AS to_call,
               (CASE WHEN status = 'seated'
                     THEN date_part('epoch', finished_at - created_at) / 60 END)::float4 AS to_seat,
               CASE WHEN status = 'seated' AND quoted_high_minutes IS NOT NULL
                    THEN floor(date_part('epoch', finished_at - created_at) / 60 + 0.5)
                         BETWEEN quoted_low_minutes AND quoted_high_minutes END AS inside
        FROM queue_entry WHERE {_RANGE}
    )
    SELECT CASE WHEN grouping(hour_of_week) = 0 THEN 'hour'
                WHEN grouping(party_size) = 0 THEN 'size' ELSE 'all' END AS dimension,
           coalesce(hour_of_week, party_size) AS key,
           count(*) AS parties,
           percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY to_call) AS call,
           percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY to_seat) AS seat,
           count(inside) AS quoted,
           count(*) FILTER (WHERE inside) AS inside
    FROM w
    GROUP BY GROUPING SETS ((hour_of_week), (party_size), ())
    """,
    "restaurant_ids",
)
# The latest seated parties with their place at joining, for the calibrated range (same index, bounded).
# PostgreSQL hands back the hour of week and the wait in minutes; SQLite the timestamps.
_SAMPLES = Statement(
    f"""
    SELECT created_at, party_size, position_at_join, finished_at, quoted_low_minutes, quoted_high_minutes
    FROM queue_entry
    WHERE {_RANGE} AND status = 'seated' AND position_at_join IS NOT NULL
    ORDER BY created_at DESC
    LIMIT :limit
    """,
    "restaurant_ids",
)
_SAMPLES_POSTGRESQL = Statement(
    f"""
    SELECT ((date_part('isodow', created_at AT TIME ZONE :zone) - 1) * 24
            + date_part('hour', created_at AT TIME ZONE :zone))::int,
           party_size, position_at_join, date_part('epoch', finished_at - created_at) / 60,
           quoted_low_minutes, quoted_high_minutes
    FROM queue_entry
    WHERE {_RANGE} AND status = 'seated' AND position_at_join IS NOT NULL
    ORDER BY created_at DESC
    LIMIT :limit
    """,
    "restaurant_ids",
)
# Quotes are written the way every change of a location is: under its counter row's lock, taken in one
# order (so two batches cannot deadlock). Without it the writer's row locks on waiting entries would make
# call-next's SKIP LOCKED pass over the first in line and call the next one instead (the event-log storm
# test caught it: token 4 called before token 3).
_LOCK_COUNTERS = Statement(
    """
    SELECT restaurant_id FROM token_sequence WHERE restaurant_id IN :restaurant_ids
    ORDER BY restaurant_id FOR UPDATE
    """,
    "restaurant_ids",
)
_RECORD_QUOTE = Statement(
    """
    UPDATE queue_entry
    SET position_at_join = :position, quoted_low_minutes = :low, quoted_high_minutes = :high
    WHERE id = :entry_id AND restaurant_id = :restaurant_id
    """
)
ENTRY_EXPORT_COLUMNS = (
    "token_number",
    "name",
    "mobile",
    "party_size",
    "status",
    "created_at",
    "called_at",
    "finished_at",
    "position_at_join",
    "quoted_low_minutes",
    "quoted_high_minutes",
)
_ENTRY_PAGE = Statement(
    f"""
    SELECT {", ".join(ENTRY_EXPORT_COLUMNS)} FROM queue_entry
    WHERE restaurant_id = :restaurant_id AND created_at >= :start AND created_at < :end
      AND token_number > :after
    ORDER BY token_number
    LIMIT :limit
    """
)
EVENT_EXPORT_COLUMNS = (
    "seq",
    "type",
    "token_number",
    "actor_kind",
    "actor_id",
    "reason",
    "details",
    "at",
    "hash",
)
# In the order they happened, then seq (queue_event_analytics_idx): a range anywhere in a long log starts at
# once. The cursor is the last row's (at, seq) as stored.
_EVENT_PAGE = Statement(
    f"""
    SELECT {", ".join(EVENT_EXPORT_COLUMNS)} FROM queue_event
    WHERE restaurant_id = :restaurant_id AND at >= :start AND at < :end AND (at, seq) > (:after_at, :after)
    ORDER BY at, seq
    LIMIT :limit
    """
)


def _range(
    connection: AsyncConnection, restaurant_ids: Sequence[uuid.UUID], start: datetime, end: datetime
) -> dict[str, Any]:
    return {
        "restaurant_ids": sorted(str(restaurant_id) for restaurant_id in restaurant_ids),
        "start": moment(connection, start),
        "end": moment(connection, end),
    }


async def counts(
    *, connection: AsyncConnection, restaurant_ids: Sequence[uuid.UUID], start: datetime, end: datetime
) -> Counts:
    """What the log recorded in ``[start, end)``, by kind of change."""
    result = await connection.execute(_COUNTS.on(connection), _range(connection, restaurant_ids, start, end))
    return Counts.from_pairs((row.type, row.number) for row in result)


async def waits(
    *,
    connection: AsyncConnection,
    restaurant_ids: Sequence[uuid.UUID],
    start: datetime,
    end: datetime,
    zone: tzinfo,
) -> Waits:
    """The waits of the parties that joined in ``[start, end)``: overall, by hour of week, by party size."""
    params = _range(connection, restaurant_ids, start, end)
    if not is_postgresql(connection):
        result = await connection.execute(_FACTS.on(connection), {**params, "limit": SQLITE_ENTRY_LIMIT})
        return summarise((EntryFact.from_row(row) for row in result.mappings()), zone)
    result = await connection.execute(_WAITS_POSTGRESQL.on(connection), {**params, "zone": str(zone)})
    overall, by_hour, by_size = WaitStats(), {}, {}
    for row in result.mappings():
        call, seat = row["call"] or (None, None), row["seat"] or (None, None)
        stats = WaitStats.from_row(
            {**row, "call_median": call[0], "call_p90": call[1], "seat_median": seat[0], "seat_p90": seat[1]}
        )
        if row["dimension"] == "hour":
            by_hour[int(row["key"])] = stats
        elif row["dimension"] == "size":
            by_size[int(row["key"])] = stats
        else:
            overall = stats
    return Waits(
        overall=overall,
        by_hour=dict(sorted(by_hour.items())),
        by_party_size=dict(sorted(by_size.items())),
    )


async def samples(
    *,
    connection: AsyncConnection,
    restaurant_id: uuid.UUID,
    start: datetime,
    end: datetime,
    zone: tzinfo,
    limit: int,
) -> list[Sample]:
    """The latest ``limit`` seated parties of ``[start, end)`` that recorded their place at joining."""
    params = {**_range(connection, [restaurant_id], start, end), "limit": limit}
    if not is_postgresql(connection):
        rows = (await connection.execute(_SAMPLES.on(connection), params)).mappings().all()
        return [Sample.from_row(row, zone) for row in rows]
    result = await connection.execute(_SAMPLES_POSTGRESQL.on(connection), {**params, "zone": str(zone)})
    return [
        Sample(hour, size, position, wait, None if low is None or high is None else (low, high))
        for hour, size, position, wait, low, high in result
    ]


@dataclass(frozen=True, slots=True)
class Quote:
    """A join's place and the range it was quoted, to be recorded on its entry."""

    restaurant_id: uuid.UUID
    entry_id: uuid.UUID
    position: int
    low: int
    high: int


async def record_quotes(*, connection: AsyncConnection, quotes: Sequence[Quote]) -> None:
    """Record a batch of quotes (one executemany, in the caller's transaction)."""
    if not quotes:
        return
    if is_postgresql(connection):  # SQLite's BEGIN IMMEDIATE already holds the one write lock
        restaurant_ids = sorted({str(quote.restaurant_id) for quote in quotes})
        await connection.execute(_LOCK_COUNTERS.on(connection), {"restaurant_ids": restaurant_ids})
    params = [
        {
            "restaurant_id": str(quote.restaurant_id),
            "entry_id": str(quote.entry_id),
            "position": quote.position,
            "low": quote.low,
            "high": quote.high,
        }
        for quote in quotes
    ]
    await connection.execute(_RECORD_QUOTE.on(connection), params)


async def entry_page(
    *,
    connection: AsyncConnection,
    restaurant_id: uuid.UUID,
    start: datetime,
    end: datetime,
    after: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Up to ``limit`` entries that joined in ``[start, end)``, in token order after token ``after``."""
    params = {**_range(connection, [restaurant_id], start, end), "after": after or 0, "limit": limit}
    params["restaurant_id"] = params.pop("restaurant_ids")[0]
    result = await connection.execute(_ENTRY_PAGE.on(connection), params)
    return [dict(row) for row in result.mappings()]


async def event_page(
    *,
    connection: AsyncConnection,
    restaurant_id: uuid.UUID,
    start: datetime,
    end: datetime,
    after: tuple[Any, int] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Up to ``limit`` events of ``[start, end)`` in time order (then seq) after ``after``, the (at, seq) of
    the last event of the previous page as this function returned it (None: from the start)."""
    params = {**_range(connection, [restaurant_id], start, end), "limit": limit}
    params["restaurant_id"] = params.pop("restaurant_ids")[0]
    params["after_at"], params["after"] = after or (params["start"], 0)
    result = await connection.execute(_EVENT_PAGE.on(connection), params)
    return [dict(row) for row in result.mappings()]
