"""Values bound into statements the same way on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection


def moment(connection: AsyncConnection, value: datetime) -> datetime | str:
    """``value`` as a parameter: a timestamptz on PostgreSQL; on SQLite the ISO-8601 UTC text that the
    schema's defaults write (millisecond precision, ``Z``), so that text comparisons order correctly."""
    if connection.dialect.name == "postgresql":
        return value
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
