"""How long a party will wait, from the pace at which the restaurant has been calling parties lately.

The method:

1. Take the times of the restaurant's latest calls: at most the last ``SAMPLE_CALLS`` calls, none older than
   ``HISTORY_WINDOW`` (what happened at lunch says little about dinner).
2. The intervals between consecutive calls are the pace. An interval longer than ``MAX_GAP`` is a lull (the
   queue was empty, or the kitchen stopped), not the pace, and is left out.
3. With at least ``MIN_INTERVALS`` intervals left, the expected wait is ``position x their mean``: a party
   in position 3 waits about three intervals. Calls made for several tables at once come close together, so
   the mean follows the restaurant's real throughput. It is shown as a range, ``SPREAD`` either side of the
   expectation ("10-16 min"), since the pace varies.
4. Without enough history (opening time, a quiet day) the page says "about N min" with a default pace of
   ``DEFAULT_MINUTES_PER_PARTY`` per party ahead: a plausible figure, which staff calling parties soon
   replaces with a measured one.

Minutes are whole; waits over 20 minutes are rounded to 5 minutes, as more precision would be false.
Pure functions of their arguments: no clock, no database.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

SAMPLE_CALLS = 11  # so at most 10 intervals
HISTORY_WINDOW = timedelta(hours=2)
MAX_GAP = timedelta(minutes=45)
MIN_INTERVALS = 2
SPREAD = 0.3
DEFAULT_MINUTES_PER_PARTY = 5
COARSE_ABOVE_MINUTES = 20


@dataclass(frozen=True)
class WaitEstimate:
    low_minutes: int
    high_minutes: int
    from_history: bool
    # From the location's own history of waits (waitline.services.estimates), sized to hold ~80% of parties.
    calibrated: bool = False

    @property
    def text(self) -> str:
        if self.high_minutes <= 2:
            return "any minute now"
        if self.low_minutes == self.high_minutes:
            return f"about {self.high_minutes} min"
        about = "about " if self.calibrated else ""
        return f"{about}{self.low_minutes}–{self.high_minutes} min"


def pace(call_times: Sequence[datetime], *, now: datetime) -> timedelta | None:
    """The mean interval between the recent calls, or None when there are too few to tell."""
    recent = sorted(moment for moment in call_times if now - moment <= HISTORY_WINDOW)[-SAMPLE_CALLS:]
    intervals = [later - earlier for earlier, later in itertools.pairwise(recent)]
    steady = [interval for interval in intervals if interval <= MAX_GAP]
    if len(steady) < MIN_INTERVALS:
        return None
    return sum(steady, timedelta()) / len(steady)


def estimate_wait(*, position: int, call_times: Sequence[datetime], now: datetime) -> WaitEstimate:
    """The wait of the party at ``position`` (1 = next) given when the latest calls were made."""
    if position < 1:
        raise ValueError("position starts at 1")
    interval = pace(call_times, now=now)
    if interval is None:
        about = _coarse(position * DEFAULT_MINUTES_PER_PARTY, math.ceil)
        return WaitEstimate(low_minutes=about, high_minutes=about, from_history=False)
    expected = position * interval.total_seconds() / 60
    low = _coarse(math.floor(expected * (1 - SPREAD)), math.floor)
    high = max(_coarse(math.ceil(expected * (1 + SPREAD)), math.ceil), low + 1)
    return WaitEstimate(low_minutes=low, high_minutes=high, from_history=True)


def _coarse(minutes: int, rounding: Callable[[float], int]) -> int:
    """Whole minutes up to 20; beyond, multiples of 5 (rounded the way ``rounding`` rounds)."""
    if minutes <= COARSE_ABOVE_MINUTES:
        return minutes
    return rounding(minutes / 5) * 5
