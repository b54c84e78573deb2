"""The wait a party is quoted: a calibrated range from the location's own history, else the pace of calls.

Nothing here runs on a request but a lookup. The calibration (``domain.analytics.Calibration``) is learnt
from the seated parties of the last ``HISTORY`` that recorded their place at joining: the quantiles of
minutes waited per place ahead, by hour of week and party size, so that about 80% of parties are seated
within their range. It is learnt in the background (``run``): a location asked about is learnt at the next
step and relearnt every ``REFRESH`` (one bounded, indexed read; the CPU-heavy part in a worker thread), and
is served the last calibration learnt meanwhile. Each time, the coverage its quotes achieved goes to the
observer (the metric ``waitline_wait_quote_coverage``). A location not learnt yet, or with too little
history, falls back to the pace method of ``waitline.wait_estimate``.

Each created join's place and the range it is quoted are recorded (what the analytics compare the actual wait
with, and what later calibrations learn from), off the join's path: ``enqueue`` only appends to an in-process
queue, which the background task quotes and writes in batches, one transaction per batch, every
``FLUSH_SECONDS`` or ``BATCH`` quotes, and once more when the app stops. A batch that cannot be written is
logged and counted as a ``quote`` outcome, never a join's failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from waitline import wait_estimate
from waitline.domain import Entry, WaitlineError
from waitline.domain.analytics import Calibration, hour_of_week
from waitline.services.outcomes import Observer, Outcome, Unobserved, failure
from waitline.store import analytics, history, restaurants
from waitline.store.engine import Database
from waitline.wait_estimate import WaitEstimate

HISTORY = timedelta(weeks=8)
REFRESH = timedelta(minutes=10)
# The latest seated parties learnt from: enough for the groups, few enough to learn in ~0.1-0.3 s.
SAMPLE_LIMIT = 10_000
# The background task's step: quotes are written at least this often, or as soon as BATCH are queued.
FLUSH_SECONDS = 0.5
BATCH = 200
# Quotes queued beyond this (the database down for minutes) are dropped and counted, not held in memory.
QUEUE_LIMIT = 50_000
# A location whose learning failed is tried again after this, not at every step.
RETRY = timedelta(seconds=30)
# The party size assumed for someone who has not said yet (the join page).
TYPICAL_PARTY = 2


@dataclass(frozen=True, slots=True)
class _Joined:
    """A created join waiting to be quoted and recorded."""

    restaurant_id: uuid.UUID
    entry_id: uuid.UUID
    position: int
    party_size: int
    at: datetime


_NONE_LEARNT = Calibration(quantiles={})


class Estimates:
    def __init__(self, *, database: Database, observer: Observer | None = None) -> None:
        self._database = database
        self._observer = observer or Unobserved()
        # Per location asked about: when its calibration was learnt (or last tried) and what was learnt.
        self._learnt: dict[uuid.UUID, tuple[datetime, Calibration]] = {}
        self._zones: dict[uuid.UUID, tzinfo] = {}
        self._asked: set[uuid.UUID] = set()
        self._queued: deque[_Joined] = deque()
        self._flushing = asyncio.Lock()
        self._woken = asyncio.Event()
        self._stopping = False

    async def calibration(self, *, restaurant_id: uuid.UUID, now: datetime) -> Calibration:
        """The location's last learnt calibration (none yet: empty, so the pace method answers). Asking
        makes the background task learn it, and relearn it every ``REFRESH``."""
        del now
        self._asked.add(restaurant_id)
        found = self._learnt.get(restaurant_id)
        return _NONE_LEARNT if found is None else found[1]

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
            position=position, party_size=party_size, hour=hour_of_week(now, self._zone(restaurant_id))
        )
        if calibrated is not None:
            return WaitEstimate(calibrated[0], calibrated[1], from_history=True, calibrated=True)
        if call_times is None:
            call_times = await self._call_times(restaurant_id, now)
        return wait_estimate.estimate_wait(position=position, call_times=call_times, now=now)

    def enqueue(self, *, entry: Entry, now: datetime | None = None) -> None:
        """Queue the quote of a party that has just joined (no I/O: the background task records it)."""
        if entry.position is None:
            return
        self._asked.add(entry.restaurant_id)
        if len(self._queued) >= QUEUE_LIMIT:
            self._observer.observe(Outcome("quote", "dropped", entry.restaurant_id, entry))
            return
        self._queued.append(
            _Joined(entry.restaurant_id, entry.id, entry.position, entry.party_size, now or datetime.now(UTC))
        )
        if len(self._queued) >= BATCH:
            self._woken.set()

    async def run(self) -> None:
        """The background task: every ``FLUSH_SECONDS`` (or when ``BATCH`` quotes wait) relearn what is due
        and record what is queued; after ``stop``, record what is left and return."""
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), FLUSH_SECONDS)
            self._woken.clear()
            await self.flush()

    def stop(self) -> None:
        """``run`` records what is queued and returns (the app awaits it for ``STOP_SECONDS``)."""
        self._stopping = True
        self._woken.set()

    async def flush(self, *, now: datetime | None = None) -> None:
        """Relearn the calibrations that are due, then quote and record every join queued before this call,
        one transaction per batch. The hook tests await instead of sleeping. Failures are logged and counted,
        never raised."""
        async with self._flushing:
            await self._relearn(now or datetime.now(UTC))
            while self._queued:
                batch = [self._queued.popleft() for _ in range(min(BATCH, len(self._queued)))]
                await self._record(batch)

    async def _relearn(self, now: datetime) -> None:
        for restaurant_id in list(self._asked):
            found = self._learnt.get(restaurant_id)
            if found is not None and now - found[0] < REFRESH:
                continue
            try:
                learnt = await self._learn(restaurant_id, now)
            except Exception as error:  # background: logged, counted, retried
                self._observer.observe(Outcome("calibrate", _failure(error), restaurant_id))
                last = _NONE_LEARNT if found is None else found[1]
                self._learnt[restaurant_id] = (now - REFRESH + RETRY, last)
                continue
            self._learnt[restaurant_id] = (now, learnt)
            fields = {"quoted": learnt.quoted, "coverage": learnt.coverage, "groups": len(learnt.quantiles)}
            self._observer.observe(Outcome("calibrate", "done", restaurant_id, fields=fields))

    def _zone(self, restaurant_id: uuid.UUID) -> tzinfo:
        """The location's time zone as its last learning read it (before that, nothing is calibrated)."""
        return self._zones.get(restaurant_id, UTC)

    async def _learn(self, restaurant_id: uuid.UUID, now: datetime) -> Calibration:
        async with self._database.snapshot() as connection:
            zone = (await restaurants.get_restaurant(connection=connection, restaurant_id=restaurant_id)).zone
            samples = await analytics.samples(
                connection=connection,
                restaurant_id=restaurant_id,
                start=now - HISTORY,
                end=now,
                zone=zone,
                limit=SAMPLE_LIMIT,
            )
        self._zones[restaurant_id] = zone
        # Up to ~0.3 s of CPU: in a thread, so the event loop keeps answering requests meanwhile.
        return await asyncio.to_thread(Calibration.learn, samples)

    async def _call_times(self, restaurant_id: uuid.UUID, now: datetime) -> Sequence[datetime]:
        async with self._database.snapshot() as connection:
            return await history.recent_call_times(
                connection=connection,
                restaurant_id=restaurant_id,
                since=now - wait_estimate.HISTORY_WINDOW,
                limit=wait_estimate.SAMPLE_CALLS,
            )

    async def _record(self, batch: list[_Joined]) -> None:
        """Quote one batch (the pace read once per location) and write it in one transaction."""
        try:
            paces: dict[uuid.UUID, Sequence[datetime]] = {}
            rows = []
            for joined in batch:
                if joined.restaurant_id not in paces:
                    paces[joined.restaurant_id] = await self._call_times(joined.restaurant_id, joined.at)
                quote = await self.estimate(
                    restaurant_id=joined.restaurant_id,
                    position=joined.position,
                    party_size=joined.party_size,
                    call_times=paces[joined.restaurant_id],
                    now=joined.at,
                )
                rows.append((joined, quote))
            async with self._database.transaction() as connection:
                await analytics.record_quotes(
                    connection=connection,
                    quotes=[
                        analytics.Quote(
                            joined.restaurant_id,
                            joined.entry_id,
                            joined.position,
                            quote.low_minutes,
                            quote.high_minutes,
                        )
                        for joined, quote in rows
                    ],
                )
        except Exception as error:  # background: logged and counted
            self._counted(batch, _failure(error))
        else:
            self._counted(batch, "recorded")

    def _counted(self, batch: list[_Joined], result: str) -> None:
        """One ``quote`` outcome per location in the batch, with how many of its quotes it held."""
        counts = Counter(joined.restaurant_id for joined in batch)
        for restaurant_id, count in counts.items():
            self._observer.observe(Outcome("quote", result, restaurant_id, fields={"quotes": count}))


def _failure(error: Exception) -> str:
    return failure(error) if isinstance(error, WaitlineError) else "failed"
