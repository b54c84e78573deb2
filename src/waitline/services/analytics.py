"""Analytics of one location or several, for a range of days in the location's time zone, and the CSV
exports of entries and events.

Every figure is read in one snapshot: from the rollups the event log keeps per local day and month
(store/rollups.py) when the range is in the location's own time zone, else from the log (counts) and the
entries (waits, quotes) themselves. The exports are read page by page, each page in a snapshot of its own,
so that an export of a year streams without holding a connection or the whole range in memory. Mobile
numbers leave masked.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from waitline import phone
from waitline.domain import Restaurant
from waitline.domain.analytics import Calibration, Counts, Report, day_bounds
from waitline.services.estimates import Estimates
from waitline.store import analytics, restaurants, rollups
from waitline.store.engine import Database

EXPORT_PAGE = 1000
ENTRY_COLUMNS = analytics.ENTRY_EXPORT_COLUMNS
EVENT_COLUMNS = analytics.EVENT_EXPORT_COLUMNS


@dataclass(frozen=True)
class LocationReport:
    restaurant: Restaurant
    report: Report
    calibration: Calibration  # its quotes' coverage over the calibration's history


@dataclass(frozen=True)
class Overview:
    """Several locations side by side, and their sum."""

    locations: tuple[tuple[Restaurant, Counts], ...]
    total: Report


class Analytics:
    entry_columns = ENTRY_COLUMNS
    event_columns = EVENT_COLUMNS

    def __init__(self, *, database: Database, estimates: Estimates) -> None:
        self._database = database
        self._estimates = estimates

    async def location(
        self, *, restaurant_id: uuid.UUID, first: date, last: date, zone: tzinfo
    ) -> LocationReport:
        async with self._database.snapshot() as connection:
            restaurant = await restaurants.get_restaurant(connection=connection, restaurant_id=restaurant_id)
            days = _Days(first, last, zone, rolled_up=restaurant.time_zone == str(zone))
            report = await days.report(connection, [restaurant_id])
        calibration = await self._estimates.calibration(restaurant_id=restaurant_id, now=datetime.now(UTC))
        return LocationReport(restaurant=restaurant, report=report, calibration=calibration)

    async def overview(
        self, *, restaurant_ids: Sequence[uuid.UUID], first: date, last: date, zone: tzinfo
    ) -> Overview:
        ids = sorted(set(restaurant_ids))
        async with self._database.snapshot() as connection:
            each = []
            for restaurant_id in ids:
                restaurant = await restaurants.get_restaurant(
                    connection=connection, restaurant_id=restaurant_id
                )
                days = _Days(first, last, zone, rolled_up=restaurant.time_zone == str(zone))
                each.append((restaurant, await days.counts(connection, [restaurant_id])))
            # The rollups count each location's own days: one sum for all only when they share the zone.
            shared = all(place.time_zone == str(zone) for place, _ in each)
            total = await _Days(first, last, zone, rolled_up=shared).report(connection, ids)
        return Overview(locations=tuple(each), total=total)

    async def entries(
        self, *, restaurant_id: uuid.UUID, first: date, last: date, zone: tzinfo
    ) -> AsyncIterator[Mapping[str, Any]]:
        """The entries that joined in the range, in token order, mobile numbers masked."""
        async for row in self._pages(analytics.entry_page, "token_number", restaurant_id, first, last, zone):
            yield {**row, "mobile": phone.mask(row["mobile"])}

    def events(
        self, *, restaurant_id: uuid.UUID, first: date, last: date, zone: tzinfo
    ) -> AsyncIterator[Mapping[str, Any]]:
        """The log's events of the range, in the order they happened (then seq)."""
        return self._pages(analytics.event_page, ("at", "seq"), restaurant_id, first, last, zone)

    async def _pages(
        self,
        read: Callable[..., Awaitable[list[dict[str, Any]]]],
        cursor: str | tuple[str, str],
        restaurant_id: uuid.UUID,
        first: date,
        last: date,
        zone: tzinfo,
    ) -> AsyncIterator[Mapping[str, Any]]:
        """Every row ``read`` gives for the range, a page at a time, each page read in its own snapshot."""
        start, end = day_bounds(first, last, zone)
        after: Any = None
        while True:
            async with self._database.snapshot() as connection:
                rows = await read(
                    connection=connection,
                    restaurant_id=restaurant_id,
                    start=start,
                    end=end,
                    after=after,
                    limit=EXPORT_PAGE,
                )
            for row in rows:
                yield row
            if len(rows) < EXPORT_PAGE:
                return
            last_row = rows[-1]
            after = last_row[cursor] if isinstance(cursor, str) else tuple(last_row[key] for key in cursor)


@dataclass(frozen=True)
class _Days:
    """A range of local days, read from the rollups when they are kept in its zone (the location's own),
    else from the log and the entries themselves (a zone other than the location's)."""

    first: date
    last: date
    zone: tzinfo
    rolled_up: bool

    async def counts(self, connection: Any, ids: Sequence[uuid.UUID]) -> Counts:
        if self.rolled_up:
            return await rollups.counts(
                connection=connection, restaurant_ids=ids, first=self.first, last=self.last
            )
        start, end = day_bounds(self.first, self.last, self.zone)
        return await analytics.counts(connection=connection, restaurant_ids=ids, start=start, end=end)

    async def report(self, connection: Any, ids: Sequence[uuid.UUID]) -> Report:
        counted = await self.counts(connection, ids)
        if self.rolled_up:
            waits = await rollups.waits(
                connection=connection, restaurant_ids=ids, first=self.first, last=self.last
            )
        else:
            start, end = day_bounds(self.first, self.last, self.zone)
            waits = await analytics.waits(
                connection=connection, restaurant_ids=ids, start=start, end=end, zone=self.zone
            )
        return Report(counts=counted, waits=waits)
