"""Opening hours: whether a location takes joins at a moment, and when it next opens, in its time zone.

The PostgreSQL join (store/sql/waitline_join.sql) makes the same decision inside its statement; this is its
Python twin (the SQLite join, and the opening time a refusal gives).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from waitline.domain.location import WEEKDAYS, Hours

# How far ahead the next opening is looked for (closed dates may run for weeks).
LOOK_AHEAD_DAYS = 400


def is_open(hours: Hours | None, closed_dates: Sequence[date], zone: ZoneInfo, at: datetime) -> bool:
    local = at.astimezone(zone)
    if local.date() in closed_dates:
        return False
    if hours is None:
        return True
    now = local.time()
    return any(start <= now < end for start, end in hours.get(WEEKDAYS[local.weekday()], []))


def next_opening(
    hours: Hours | None, closed_dates: Sequence[date], zone: ZoneInfo, at: datetime
) -> datetime | None:
    """The next moment after ``at`` at which joins are taken, in the location's time zone; None if none
    within LOOK_AHEAD_DAYS (every day closed)."""
    local = at.astimezone(zone)
    for offset in range(LOOK_AHEAD_DAYS + 1):
        day = local.date() + timedelta(days=offset)
        if day in closed_dates:
            continue
        starts = (
            [time(0, 0)] if hours is None else [start for start, _ in hours.get(WEEKDAYS[day.weekday()], [])]
        )
        for start in sorted(starts):
            candidate = datetime.combine(day, start, tzinfo=zone)
            if candidate > local:
                return candidate
    return None


def utcnow() -> datetime:
    return datetime.now(UTC)
