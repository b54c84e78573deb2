"""Values as either database hands them back: PostgreSQL gives datetimes and UUIDs, SQLite gives text."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any


def datetime_from_row(value: datetime | str) -> datetime:
    """A timestamp as read from either database: PostgreSQL hands back datetimes, SQLite ISO-8601 text."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def optional_datetime(value: Any) -> datetime | None:
    return None if value is None else datetime_from_row(value)


def as_uuid(value: Any) -> uuid.UUID:
    return value if type(value) is uuid.UUID else uuid.UUID(str(value))


def optional_uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else as_uuid(value)
