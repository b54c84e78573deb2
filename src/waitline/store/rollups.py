"""The analytics read from their rollups (migration 0011, written by the trigger on each event): counts by
local day, wait histograms by local month for the whole months of a range and by local day around them.
Both are index-only range scans of the rollups' primary keys; a year is a few thousand rows to add up."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain.analytics import Counts, Waits
from waitline.domain.rollup import DAY, MONTH, Periods, waits_from_rows
from waitline.store.statement import Statement, is_postgresql

_COUNTS = Statement(
    """
    SELECT type, sum(events) AS number FROM analytics_count
    WHERE restaurant_id IN :restaurant_ids AND day >= :first AND day < :after
    GROUP BY type
    """,
    "restaurant_ids",
)
# The months of the range, then up to two runs of days around them (an empty run reads nothing): three
# range scans of the primary key, index-only (an OR of them would be one bitmap scan of the table).
_RUN = """
    SELECT dimension, key, measure, minute, parties FROM analytics_wait
    WHERE restaurant_id IN :restaurant_ids AND span = {span}
      AND period >= :{run}_first AND period < :{run}_after
"""
_WAITS = Statement(
    f"""
    SELECT dimension, key, measure, minute, sum(parties) AS parties FROM (
        {_RUN.format(span=MONTH, run="month")} UNION ALL {_RUN.format(span=DAY, run="head")}
        UNION ALL {_RUN.format(span=DAY, run="tail")}
    ) runs
    GROUP BY dimension, key, measure, minute
    """,
    "restaurant_ids",
)


def _day(connection: AsyncConnection, day: date) -> date | str:
    return day if is_postgresql(connection) else day.isoformat()


def _ids(restaurant_ids: Sequence[uuid.UUID]) -> list[str]:
    return sorted(str(restaurant_id) for restaurant_id in restaurant_ids)


def counts_params(
    connection: AsyncConnection, restaurant_ids: Sequence[uuid.UUID], first: date, last: date
) -> dict[str, Any]:
    return {
        "restaurant_ids": _ids(restaurant_ids),
        "first": _day(connection, first),
        "after": _day(connection, Periods.of(first, last).after),
    }


def waits_params(
    connection: AsyncConnection, restaurant_ids: Sequence[uuid.UUID], first: date, last: date
) -> dict[str, Any]:
    periods = Periods.of(first, last)
    nothing = (first, first)
    months = periods.months or nothing
    head, tail = (*periods.days, nothing, nothing)[:2]
    params: dict[str, Any] = {"restaurant_ids": _ids(restaurant_ids)}
    for name, (start, after) in (("month", months), ("head", head), ("tail", tail)):
        params[f"{name}_first"], params[f"{name}_after"] = _day(connection, start), _day(connection, after)
    return params


async def counts(
    *, connection: AsyncConnection, restaurant_ids: Sequence[uuid.UUID], first: date, last: date
) -> Counts:
    """What the log recorded on the local days ``first`` to ``last``, by kind of change."""
    params = counts_params(connection, restaurant_ids, first, last)
    result = await connection.execute(_COUNTS.on(connection), params)
    return Counts.from_pairs((row.type, int(row.number)) for row in result)


async def waits(
    *, connection: AsyncConnection, restaurant_ids: Sequence[uuid.UUID], first: date, last: date
) -> Waits:
    """The waits of the parties that joined on the local days ``first`` to ``last``, from histograms of
    whole minutes (within ``domain.rollup.PRECISION_MINUTES`` of the exact percentiles)."""
    params = waits_params(connection, restaurant_ids, first, last)
    result = await connection.execute(_WAITS.on(connection), params)
    return waits_from_rows(result)  # rows unpack as tuples
