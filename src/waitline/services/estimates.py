"""The wait a party is quoted: a calibrated range from the location's own history, else the pace of calls.

The calibration (``domain.analytics.Calibration``) is learnt from the seated parties of the last
``HISTORY`` that recorded their place at joining: the quantiles of minutes waited per place ahead, by hour of
week and party size, so that about 80% of parties are seated within their range. It is relearnt at most every
``REFRESH`` per location (one bounded, indexed read), and each time the coverage its quotes achieved goes to
the observer (the metric ``waitline_wait_quote_coverage``). A location with too little history falls back to
the pace method of ``waitline.wait_estimate``.

Each created join records its place and the range it was quoted (``record_quote``): what the analytics compare
the actual wait with, and what later calibrations learn from.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from waitline import wait_estimate
from waitline.domain import Entry
from waitline.domain.analytics import Calibration, hour_of_week
from waitline.services.outcomes import Observer, Outcome, Unobserved
from waitline.store import analytics, history
from waitline.store.engine import Database
from waitline.wait_estimate import WaitEstimate

HISTORY = timedelta(weeks=8)
REFRESH = timedelta(minutes=10)
# The latest seated parties learnt from: enough for the groups, few enough to learn in ~0.1-0.3 s.
SAMPLE_LIMIT = 10_000
# The party size assumed for someone who has not said yet (the join page).
TYPICAL_PARTY = 2


def zone_of(restaurant_id: uuid.UUID) -> tzinfo:
    """The location's time zone."""
    # lead: use restaurant.time_zone after merging owners
    del restaurant_id
    return ZoneInfo("UTC")


class Estimates:
    def __init__(self, *, database: Database, observer: Observer | None = None) -> None:
        self._database = database
        self._observer = observer or Unobserved()
        self._learnt: dict[uuid.UUID, tuple[datetime, Calibration]] = {}

    async def calibration(self, *, restaurant_id: uuid.UUID, now: datetime) -> Calibration:
        """The location's calibration, relearnt when older than ``REFRESH``."""
        found = self._learnt.get(restaurant_id)
        if found is not None and now - found[0] < REFRESH:
            return found[1]
        async with self._database.snapshot() as connection:
            samples = await analytics.samples(
                connection=connection,
                restaurant_id=restaurant_id,
                start=now - HISTORY,
                end=now,
                zone=zone_of(restaurant_id),
                limit=SAMPLE_LIMIT,
            )
        learnt = Calibration.learn(samples)
        self._learnt[restaurant_id] = (now, learnt)
        self._observer.observe(
            Outcome(
                "calibrate",
                "done",
                restaurant_id,
                fields={
                    "quoted": learnt.quoted,
                    "coverage": learnt.coverage,
                    "groups": len(learnt.quantiles),
                },
            )
        )
        return learnt

    async def estimate(
        self,
        *,
        restaurant_id: uuid.UUID,
        position: int,
        party_size: int,
        call_times: Sequence[datetime] | None,
        now: datetime,
    ) -> WaitEstimate:
        """The range for the party at ``position``: calibrated when the history allows, else by pace (from
        ``call_times``, read here when None)."""
        learnt = await self.calibration(restaurant_id=restaurant_id, now=now)
        calibrated = learnt.range_for(
            position=position, party_size=party_size, hour=hour_of_week(now, zone_of(restaurant_id))
        )
        if calibrated is not None:
            return WaitEstimate(calibrated[0], calibrated[1], from_history=True, calibrated=True)
        if call_times is None:
            async with self._database.snapshot() as connection:
                call_times = await history.recent_call_times(
                    connection=connection,
                    restaurant_id=restaurant_id,
                    since=now - wait_estimate.HISTORY_WINDOW,
                    limit=wait_estimate.SAMPLE_CALLS,
                )
        return wait_estimate.estimate_wait(position=position, call_times=call_times, now=now)

    async def record_quote(self, *, entry: Entry, now: datetime | None = None) -> WaitEstimate | None:
        """Quote a party that has just joined, and record its place and the range on its entry (one
        statement: on PostgreSQL its own transaction, one round trip)."""
        if entry.position is None:
            return None
        quote = await self.estimate(
            restaurant_id=entry.restaurant_id,
            position=entry.position,
            party_size=entry.party_size,
            call_times=None,
            now=now or datetime.now(UTC),
        )
        async with self._database.single_statement() as connection:
            await analytics.record_quote(
                connection=connection,
                restaurant_id=entry.restaurant_id,
                entry_id=entry.id,
                position=entry.position,
                low=quote.low_minutes,
                high=quote.high_minutes,
            )
        return quote
