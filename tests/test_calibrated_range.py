"""The calibrated wait range: learnt from a restaurant's own history, it holds about 80% of parties.

A backtest: a restaurant with known service times (bench/history.py) runs for ten weeks; the range is
learnt from the first eight and quoted to every party of the last two, as it joins. About 80% of them must
be seated within their range (within 5 points), at every load tried.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from bench import history
from bench.history import Party

from waitline.domain.analytics import COVERAGE, MIN_SAMPLES, Calibration, Sample, hour_of_week, inside
from waitline.services.estimates import SAMPLE_LIMIT

UTC_ZONE = ZoneInfo("UTC")
FIRST = date(2026, 6, 1)
SPLIT = datetime(2026, 7, 27, tzinfo=UTC)  # eight weeks in


def sample(party: Party) -> Sample:
    return Sample(
        hour_of_week=hour_of_week(party.joined, UTC_ZONE),
        party_size=party.size,
        position=party.position,
        seat_wait_minutes=party.seat_wait or 0.0,
    )


def backtest(parties: list[Party], calibration: Calibration) -> tuple[float, int]:
    quoted = hits = 0
    for party in parties:
        if party.joined < SPLIT or party.seat_wait is None:
            continue
        found = calibration.range_for(
            position=party.position, party_size=party.size, hour=hour_of_week(party.joined, UTC_ZONE)
        )
        assert found is not None
        quoted += 1
        hits += inside(party.seat_wait, *found)
    return hits / quoted, quoted


@pytest.mark.parametrize(("parties_per_day", "seed"), [(40, 1), (80, 2), (160, 3)])
def test_about_80_percent_of_parties_are_seated_within_their_calibrated_range(
    parties_per_day: int, seed: int
) -> None:
    parties = history.simulate(first_day=FIRST, days=70, parties_per_day=parties_per_day, seed=seed)
    history_ = [sample(party) for party in parties if party.joined < SPLIT and party.seat_wait is not None]
    learnt = Calibration.learn(history_[-SAMPLE_LIMIT:])  # the latest, as the service learns
    coverage, quoted = backtest(parties, learnt)
    assert quoted > 500
    assert abs(coverage - COVERAGE) <= 0.05, f"{coverage:.1%} of {quoted} parties inside their range"


def test_a_new_location_has_no_calibrated_range_and_a_thin_group_borrows_a_wider_one() -> None:
    empty = Calibration.learn([])
    assert empty.range_for(position=3, party_size=2, hour=19) is None
    # Parties of two at every hour: enough for the size band, not for Monday 19:00 on its own.
    samples = [
        Sample(hour_of_week=hour % 168, party_size=2, position=2, seat_wait_minutes=10.0 + hour % 10)
        for hour in range(MIN_SAMPLES)
    ]
    learnt = Calibration.learn(samples)
    low, high = learnt.range_for(position=2, party_size=2, hour=19) or (0, 0)
    assert 10 <= low < high <= 19
    assert learnt.range_for(position=2, party_size=8, hour=19) == (low, high)  # all of the history


def test_ranges_read_as_about_low_to_high_minutes() -> None:
    from waitline.wait_estimate import WaitEstimate

    assert WaitEstimate(25, 35, from_history=True, calibrated=True).text == "about 25–35 min"
    assert WaitEstimate(25, 35, from_history=True).text == "25–35 min"
