"""What the analytics say about a queue's history, and the calibrated wait range learnt from it.

Pure values and functions: no clock, no database. The store computes the same figures in SQL on PostgreSQL
(``percentile_cont``); on SQLite it reads the entries of the range and hands them to ``summarise``.

- Hours of the week run 0 (Monday 00:00-00:59) to 167 (Sunday 23:00-23:59), in the location's time zone.
- Waits are in minutes: join to call, and join to seat (seated parties only).
- A wait falls inside its quote when, rounded to the nearest minute, it lies in ``[low, high]``.
- The walk-away rate: parties that left by themselves or did not show up, over the parties that joined.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from waitline.domain.rows import datetime_from_row, optional_datetime

HOURS_IN_WEEK = 168
# A calibrated range holds the middle COVERAGE of the history's minutes per party ahead.
COVERAGE = 0.8
# A group of history is trusted once it holds this many seated parties.
MIN_SAMPLES = 100
# Steps of the search for the tails that hold COVERAGE once ranges are rounded (precision 0.2 / 2^7).
BISECTIONS = 7
COUNTED_EVENTS = ("joined", "called", "seated", "no_show", "cancelled", "left")


def hour_of_week(moment: datetime, zone: tzinfo) -> int:
    local = moment.astimezone(zone)
    return local.weekday() * 24 + local.hour


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """As PostgreSQL's ``percentile_cont``: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    below = math.floor(rank)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (rank - below)


def inside(wait_minutes: float, low: int, high: int) -> bool:
    return low <= math.floor(wait_minutes + 0.5) <= high


@dataclass(frozen=True)
class Counts:
    joined: int = 0
    called: int = 0
    seated: int = 0
    no_show: int = 0
    cancelled: int = 0  # by staff
    left: int = 0  # by the guest

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, int]]) -> Counts:
        found = {kind: int(number) for kind, number in pairs if kind in COUNTED_EVENTS}
        return cls(**found)

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            *(a + b for a, b in zip(self.as_tuple(), other.as_tuple(), strict=True)),
        )

    def as_tuple(self) -> tuple[int, ...]:
        return (self.joined, self.called, self.seated, self.no_show, self.cancelled, self.left)

    @property
    def walk_away_rate(self) -> float | None:
        return (self.left + self.no_show) / self.joined if self.joined else None


@dataclass(frozen=True)
class WaitStats:
    """The waits of one group of parties (all, one hour of the week, one party size)."""

    parties: int = 0
    call_median: float | None = None
    call_p90: float | None = None
    seat_median: float | None = None
    seat_p90: float | None = None
    quoted: int = 0  # seated parties that were quoted a range
    inside: int = 0  # ... whose wait fell inside it

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> WaitStats:
        def minutes(name: str) -> float | None:
            value = row[name]
            return None if value is None else float(value)

        return cls(
            parties=int(row["parties"]),
            call_median=minutes("call_median"),
            call_p90=minutes("call_p90"),
            seat_median=minutes("seat_median"),
            seat_p90=minutes("seat_p90"),
            quoted=int(row["quoted"] or 0),
            inside=int(row["inside"] or 0),
        )

    @property
    def coverage(self) -> float | None:
        return self.inside / self.quoted if self.quoted else None


@dataclass(frozen=True)
class Waits:
    overall: WaitStats = WaitStats()
    by_hour: Mapping[int, WaitStats] = field(default_factory=dict)  # parties by hour: the heatmap
    by_party_size: Mapping[int, WaitStats] = field(default_factory=dict)
    # How far the medians and 90th percentiles may lie from the exact ones, in minutes (0: exact; the
    # rollups' whole-minute histograms: domain.rollup.PRECISION_MINUTES).
    precision_minutes: float = 0.0


@dataclass(frozen=True)
class EntryFact:
    """What the analytics need of one entry."""

    created_at: datetime
    status: str
    party_size: int
    called_at: datetime | None
    finished_at: datetime | None
    position_at_join: int | None
    quoted_low_minutes: int | None
    quoted_high_minutes: int | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> EntryFact:
        return cls(
            created_at=datetime_from_row(row["created_at"]),
            status=row["status"],
            party_size=int(row["party_size"]),
            called_at=optional_datetime(row["called_at"]),
            finished_at=optional_datetime(row["finished_at"]),
            position_at_join=row["position_at_join"],
            quoted_low_minutes=row["quoted_low_minutes"],
            quoted_high_minutes=row["quoted_high_minutes"],
        )

    @property
    def call_wait(self) -> float | None:
        return None if self.called_at is None else (self.called_at - self.created_at).total_seconds() / 60

    @property
    def seat_wait(self) -> float | None:
        if self.status != "seated" or self.finished_at is None:
            return None
        return (self.finished_at - self.created_at).total_seconds() / 60


def _stats(facts: Sequence[EntryFact]) -> WaitStats:
    calls = [wait for fact in facts if (wait := fact.call_wait) is not None]
    seats = [wait for fact in facts if (wait := fact.seat_wait) is not None]
    quoted = [
        fact
        for fact in facts
        if fact.seat_wait is not None
        and fact.quoted_low_minutes is not None
        and fact.quoted_high_minutes is not None
    ]
    return WaitStats(
        parties=len(facts),
        call_median=percentile(calls, 0.5),
        call_p90=percentile(calls, 0.9),
        seat_median=percentile(seats, 0.5),
        seat_p90=percentile(seats, 0.9),
        quoted=len(quoted),
        inside=sum(
            1
            for fact in quoted
            if inside(fact.seat_wait or 0.0, fact.quoted_low_minutes or 0, fact.quoted_high_minutes or 0)
        ),
    )


def summarise(facts: Iterable[EntryFact], zone: tzinfo) -> Waits:
    """The waits of ``facts`` overall, by hour of the week and by party size (the SQLite path)."""
    every = list(facts)
    by_hour: dict[int, list[EntryFact]] = defaultdict(list)
    by_size: dict[int, list[EntryFact]] = defaultdict(list)
    for fact in every:
        by_hour[hour_of_week(fact.created_at, zone)].append(fact)
        by_size[fact.party_size].append(fact)
    return Waits(
        overall=_stats(every),
        by_hour={hour: _stats(group) for hour, group in sorted(by_hour.items())},
        by_party_size={size: _stats(group) for size, group in sorted(by_size.items())},
    )


@dataclass(frozen=True)
class Report:
    """One location's (or several locations') analytics for a date range."""

    counts: Counts
    waits: Waits

    @property
    def busiest_hour(self) -> int | None:
        hours = self.waits.by_hour
        return max(hours, key=lambda hour: hours[hour].parties) if hours else None


# --- the calibrated wait range ------------------------------------------------------------------------------


def size_band(party_size: int) -> int:
    """Parties of 1-2, 3-4, 5-6 and 7 or more wait for different tables: 1, 2, 3, 4."""
    return min((party_size + 1) // 2, 4)


@dataclass(frozen=True)
class Sample:
    """A seated party of the history: when it joined, how many it was, its place then, its wait."""

    hour_of_week: int
    party_size: int
    position: int
    seat_wait_minutes: float
    quote: tuple[int, int] | None = None  # the range it was quoted, if any

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], zone: tzinfo) -> Sample:
        joined = datetime_from_row(row["created_at"])
        low, high = row["quoted_low_minutes"], row["quoted_high_minutes"]
        return cls(
            hour_of_week=hour_of_week(joined, zone),
            party_size=int(row["party_size"]),
            position=int(row["position_at_join"]),
            seat_wait_minutes=(datetime_from_row(row["finished_at"]) - joined).total_seconds() / 60,
            quote=None if low is None or high is None else (int(low), int(high)),
        )


Key = tuple[int | None, int | None]  # (hour of week, size band); None: any


def _keys(hour: int, band: int) -> tuple[Key, ...]:
    """From the most specific group of history to the whole of it."""
    return ((hour, band), (hour, None), (None, band), (None, None))


@dataclass(frozen=True)
class Calibration:
    """Quantiles of minutes waited per place in the queue, by (hour of week, size band) and coarser."""

    quantiles: Mapping[Key, tuple[float, float]]
    # Of the samples that were quoted a range: how many, and the share whose wait fell inside it.
    quoted: int = 0
    coverage: float | None = None

    @classmethod
    def learn(cls, samples: Iterable[Sample], *, coverage: float = COVERAGE) -> Calibration:
        """Quantiles per group, their tails chosen so that the rounded ranges hold ``coverage`` of the
        samples themselves: whole minutes widen short ranges, which plain 10%-90% quantiles would miss."""
        every = [sample for sample in samples if sample.position >= 1]
        ratios: dict[Key, list[float]] = defaultdict(list)
        quoted = hits = 0
        for sample in every:
            if sample.quote is not None:
                quoted += 1
                hits += inside(sample.seat_wait_minutes, *sample.quote)
            ratio = sample.seat_wait_minutes / sample.position
            for key in _keys(sample.hour_of_week, size_band(sample.party_size)):
                ratios[key].append(ratio)
        trusted = {key: sorted(values) for key, values in ratios.items() if len(values) >= MIN_SAMPLES}

        def with_tail(tail: float) -> Calibration:
            return cls(
                quantiles={
                    key: (percentile(values, tail) or 0.0, percentile(values, 1 - tail) or 0.0)
                    for key, values in trusted.items()
                },
                quoted=quoted,
                coverage=hits / quoted if quoted else None,
            )

        # In-sample coverage falls as the tails grow: bisect between none and twice the nominal tail.
        low, high = 0.0, 1 - coverage
        best, best_miss = with_tail((1 - coverage) / 2), math.inf
        for _ in range(BISECTIONS):
            tail = (low + high) / 2
            candidate = with_tail(tail)
            achieved = candidate.in_sample(every)
            if achieved is None:
                return candidate
            if abs(achieved - coverage) < best_miss:
                best, best_miss = candidate, abs(achieved - coverage)
            if achieved > coverage:
                low = tail
            else:
                high = tail
        return best

    def in_sample(self, samples: Sequence[Sample]) -> float | None:
        """The share of ``samples`` that the ranges quoted now would have held."""
        held = total = 0
        for sample in samples:
            found = self.range_for(
                position=sample.position, party_size=sample.party_size, hour=sample.hour_of_week
            )
            if found is not None:
                total += 1
                held += inside(sample.seat_wait_minutes, *found)
        return held / total if total else None

    def range_for(self, *, position: int, party_size: int, hour: int) -> tuple[int, int] | None:
        """The minutes a party at ``position`` will wait, low and high; None: too little history."""
        for key in _keys(hour, size_band(party_size)):
            found = self.quantiles.get(key)
            if found is not None:
                low = _rounded(found[0] * position)
                high = max(_rounded(found[1] * position), low + 1)
                return low, high
        return None


def _rounded(minutes: float) -> int:
    """Nearest whole minute up to 20; beyond, nearest multiple of 5 (more precision would be false)."""
    if minutes <= 20:
        return math.floor(minutes + 0.5)
    return 5 * math.floor(minutes / 5 + 0.5)


def day_bounds(first: date, last: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The moments ``[start, end)`` that the local days ``first`` to ``last`` (both included) cover."""
    start = datetime.combine(first, time(), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=zone)
    return start, end
