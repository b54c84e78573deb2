"""The SQL functions waitline registers on every SQLite connection: what SQLite lacks for the analytics'
rollup trigger (migration 0011), local days and hours in a named time zone and whole minutes waited.

Timestamps arrive as the schema stores them (ISO-8601 UTC text); the answers are those of
``domain.rollup``, so that the trigger and the exact path in Python agree to the minute.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from waitline.domain.rollup import local_parts, wait_minute


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _local_day(at: str, zone: str) -> str:
    return local_parts(datetime.fromisoformat(at), _zone(zone))[0].isoformat()


def _local_month(at: str, zone: str) -> str:
    return local_parts(datetime.fromisoformat(at), _zone(zone))[1].isoformat()


def _hour_of_week(at: str, zone: str) -> int:
    return local_parts(datetime.fromisoformat(at), _zone(zone))[2]


def _wait_minute(start: str, end: str) -> int:
    return wait_minute(datetime.fromisoformat(start), datetime.fromisoformat(end))


def _wait_rounded(start: str, end: str) -> int:
    """The wait rounded to the nearest minute, as ``domain.analytics.inside`` rounds it."""
    seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    return math.floor(seconds / 60 + 0.5)


FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "waitline_local_day": (2, _local_day),
    "waitline_local_month": (2, _local_month),
    "waitline_hour_of_week": (2, _hour_of_week),
    "waitline_wait_minute": (2, _wait_minute),
    "waitline_wait_rounded": (2, _wait_rounded),
}


def register(dbapi_connection: Any) -> None:
    """Make the functions known to one connection (sqlite3's, or SQLAlchemy's aiosqlite adapter of it)."""
    for name, (arguments, function) in FUNCTIONS.items():
        dbapi_connection.create_function(name, arguments, function, deterministic=True)
