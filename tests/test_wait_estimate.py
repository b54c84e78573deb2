"""The estimated wait: the mean interval between recent calls times the position, shown as a range; a
default pace without history. Pure functions: no database, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from waitline.wait_estimate import (
    DEFAULT_MINUTES_PER_PARTY,
    HISTORY_WINDOW,
    MAX_GAP,
    SAMPLE_CALLS,
    WaitEstimate,
    estimate_wait,
    pace,
)

NOW = datetime(2026, 11, 28, 19, 30, tzinfo=UTC)


def calls_every(minutes: float, count: int, *, last_call_ago: float = 0) -> list[datetime]:
    """``count`` calls ``minutes`` apart, the latest ``last_call_ago`` minutes before NOW, newest first."""
    latest = NOW - timedelta(minutes=last_call_ago)
    return [latest - timedelta(minutes=minutes * index) for index in range(count)]


def test_without_history_it_says_about_the_default_pace_per_party_ahead() -> None:
    estimate = estimate_wait(position=3, call_times=[], now=NOW)

    about = 3 * DEFAULT_MINUTES_PER_PARTY
    assert estimate == WaitEstimate(low_minutes=about, high_minutes=about, from_history=False)
    assert estimate.text == f"about {3 * DEFAULT_MINUTES_PER_PARTY} min"


def test_one_interval_is_not_yet_a_pace() -> None:
    assert pace(calls_every(4, 2), now=NOW) is None
    assert not estimate_wait(position=2, call_times=calls_every(4, 2), now=NOW).from_history


def test_the_pace_is_the_mean_interval_between_recent_calls() -> None:
    # Intervals of 2, 4 and 6 minutes: a mean of 4.
    calls = [NOW, NOW - timedelta(minutes=2), NOW - timedelta(minutes=6), NOW - timedelta(minutes=12)]

    assert pace(calls, now=NOW) == timedelta(minutes=4)


def test_the_wait_scales_with_the_position_and_is_a_range_around_it() -> None:
    calls = calls_every(4, 6)

    second = estimate_wait(position=2, call_times=calls, now=NOW)
    fifth = estimate_wait(position=5, call_times=calls, now=NOW)

    # 2 x 4 = 8 minutes expected, 30 % either side; 5 x 4 = 20.
    assert (second.low_minutes, second.high_minutes) == (5, 11)
    assert second.text == "5–11 min"
    assert (fifth.low_minutes, fifth.high_minutes) == (14, 30)  # 26, rounded up to 5 minutes
    assert second.from_history and fifth.from_history


def test_long_waits_are_rounded_to_five_minutes() -> None:
    estimate = estimate_wait(position=9, call_times=calls_every(7, 6), now=NOW)

    assert estimate.low_minutes % 5 == 0
    assert estimate.high_minutes % 5 == 0
    assert estimate.low_minutes <= 9 * 7 <= estimate.high_minutes


def test_the_next_party_of_a_fast_queue_hears_any_minute_now() -> None:
    estimate = estimate_wait(position=1, call_times=calls_every(1, 5), now=NOW)

    assert estimate.text == "any minute now"


def test_a_lull_longer_than_the_max_gap_is_not_taken_for_the_pace() -> None:
    lull = MAX_GAP + timedelta(minutes=10)
    calls = [NOW, NOW - timedelta(minutes=3), NOW - timedelta(minutes=6), NOW - timedelta(minutes=6) - lull]

    assert pace(calls, now=NOW) == timedelta(minutes=3)


def test_calls_older_than_the_history_window_do_not_count() -> None:
    old = calls_every(2, 6, last_call_ago=HISTORY_WINDOW.total_seconds() / 60 + 1)
    recent = calls_every(10, 3)

    assert pace(old, now=NOW) is None
    assert pace(recent + old, now=NOW) == timedelta(minutes=10)


def test_only_the_latest_calls_make_the_pace() -> None:
    # The latest SAMPLE_CALLS calls came every 2 minutes; earlier ones every 10.
    fast = calls_every(2, SAMPLE_CALLS)
    slow = [fast[-1] - timedelta(minutes=10 * index) for index in range(1, 4)]

    assert pace(fast + slow, now=NOW) == timedelta(minutes=2)


def test_the_order_the_call_times_come_in_does_not_matter() -> None:
    calls = calls_every(3, 5)

    assert pace(list(reversed(calls)), now=NOW) == pace(calls, now=NOW) == timedelta(minutes=3)


@pytest.mark.parametrize("position", [0, -1])
def test_a_position_starts_at_one(position: int) -> None:
    with pytest.raises(ValueError, match="position"):
        estimate_wait(position=position, call_times=[], now=NOW)
