"""The analytics' rollups: what the event log adds up per location and local day (and month), so that a
year of history answers from a few thousand rows instead of a hundred thousand entries.

Pure values and functions; the store keeps the rows (migration 0011, written by a trigger on each event).

- Counts: events per local day and type.
- Waits: histograms of whole minutes waited (join to call, join to seat), per period (a local day, and the
  local month it lies in), by hour of the week and by party size; with the parties that joined and, of the
  seated ones, how many were quoted a range and how many waited inside it (those are exact).
- Days, months and hours are the location's, in the time zone it had when the party joined.

Percentiles from the histograms treat each wait as the middle of its minute, then interpolate as
``percentile_cont`` does: the answer is within half a minute of the exact one.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from waitline.domain.analytics import Waits, WaitStats, hour_of_week

# What a histogram row counts (rollup column ``measure``).
JOINED, CALL, SEAT, QUOTED, INSIDE = 0, 1, 2, 3, 4
# Its group (column ``dimension``): the hour of the week the party joined in, or its size.
BY_HOUR, BY_SIZE = 0, 1
# The period a row covers (column ``span``).
DAY, MONTH = 1, 2
# How far a percentile read from whole-minute histograms may lie from the exact one, in minutes.
PRECISION_MINUTES = 0.5


def local_parts(moment: datetime, zone: tzinfo) -> tuple[date, date, int]:
    """The local day, the first day of its month, and the hour of the week of ``moment``."""
    local = moment.astimezone(zone)
    day = local.date()
    return day, day.replace(day=1), hour_of_week(moment, zone)


def wait_minute(start: datetime, end: datetime) -> int:
    """The whole minute a wait from ``start`` to ``end`` lies in (its histogram bucket)."""
    return math.floor((end - start).total_seconds() / 60)


@dataclass(frozen=True)
class Periods:
    """A range of local days as whole months and the days around them: what the rollups are read by."""

    months: tuple[date, date] | None  # [first month, month after the last) — first days of months
    days: tuple[tuple[date, date], ...]  # [first, after) day ranges outside those months
    after: date  # the day after the range

    @classmethod
    def of(cls, first: date, last: date) -> Periods:
        after = last + timedelta(days=1)
        month_start = first if first.day == 1 else _next_month(first)
        month_end = after.replace(day=1)
        if month_start >= month_end:
            return cls(months=None, days=((first, after),), after=after)
        days = tuple((a, b) for a, b in ((first, month_start), (month_end, after)) if a < b)
        return cls(months=(month_start, month_end), days=days, after=after)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def histogram_percentile(histogram: Mapping[int, int], fraction: float) -> float | None:
    """``percentile_cont(fraction)`` of the waits counted in ``histogram`` (minute -> parties), each taken
    as the middle of its minute."""
    return _percentiles(histogram, (fraction,))[0]


def _percentiles(histogram: Mapping[int, int], fractions: tuple[float, ...]) -> list[float | None]:
    total = sum(histogram.values())
    if total == 0:
        return [None] * len(fractions)
    ordered = sorted(histogram.items())

    def value_at(index: int) -> float:
        seen = 0
        for minute, parties in ordered:
            seen += parties
            if index < seen:
                return minute + 0.5
        raise IndexError(index)

    found: list[float | None] = []
    for fraction in fractions:
        rank = fraction * (total - 1)
        below = math.floor(rank)
        low, high = value_at(below), value_at(min(below + 1, total - 1))
        found.append(low + (high - low) * (rank - below))
    return found


@dataclass
class _Group:
    counts: dict[int, int]
    calls: dict[int, int]
    seats: dict[int, int]

    def stats(self) -> WaitStats:
        call_median, call_p90 = _percentiles(self.calls, (0.5, 0.9))
        seat_median, seat_p90 = _percentiles(self.seats, (0.5, 0.9))
        return WaitStats(
            parties=self.counts.get(JOINED, 0),
            call_median=call_median,
            call_p90=call_p90,
            seat_median=seat_median,
            seat_p90=seat_p90,
            quoted=self.counts.get(QUOTED, 0),
            inside=self.counts.get(INSIDE, 0),
        )


def _group() -> _Group:
    return _Group(defaultdict(int), defaultdict(int), defaultdict(int))


def waits_from_rows(rows: Iterable[tuple[Any, ...]]) -> Waits:
    """The waits of the rollup rows (dimension, key, measure, minute, parties), summed over their periods.
    Every party is counted once by hour and once by size: the whole is the sum of the sizes."""
    groups: dict[tuple[int, int], _Group] = defaultdict(_group)
    overall = _group()
    for dimension, key, measure, minute, parties in rows:
        group = groups[dimension, key]
        number = int(parties)
        if measure == CALL:
            group.calls[minute] += number
            if dimension == BY_SIZE:
                overall.calls[minute] += number
        elif measure == SEAT:
            group.seats[minute] += number
            if dimension == BY_SIZE:
                overall.seats[minute] += number
        else:
            group.counts[measure] += number
            if dimension == BY_SIZE:
                overall.counts[measure] += number
    by_hour = {key: group.stats() for (dimension, key), group in groups.items() if dimension == BY_HOUR}
    by_size = {key: group.stats() for (dimension, key), group in groups.items() if dimension == BY_SIZE}
    return Waits(
        overall=overall.stats(),
        by_hour=dict(sorted(by_hour.items())),
        by_party_size=dict(sorted(by_size.items())),
        precision_minutes=PRECISION_MINUTES,
    )
