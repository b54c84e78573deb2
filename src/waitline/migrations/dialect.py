"""Column types and defaults the migrations share, as each dialect stores them.

Ids are native UUIDs on PostgreSQL and their canonical text on SQLite; timestamps are timestamptz on
PostgreSQL and ISO-8601 UTC text (millisecond precision, ``Z``) on SQLite.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


def is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def uuid_type() -> sa.types.TypeEngine[Any]:
    return postgresql.UUID(as_uuid=True) if is_postgresql() else sa.String(36)


def timestamp_type() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True) if is_postgresql() else sa.Text()


def now_default() -> sa.TextClause:
    return sa.text("now()") if is_postgresql() else sa.text("(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))")


def restaurant_fk(*, cascade: bool = True) -> sa.Column[Any]:
    return sa.Column(
        "restaurant_id",
        uuid_type(),
        sa.ForeignKey("restaurant.id", ondelete="CASCADE" if cascade else None),
        nullable=False,
    )


def created_at() -> sa.Column[Any]:
    """``created_at``, set by the database when the row is inserted."""
    return sa.Column("created_at", timestamp_type(), nullable=False, server_default=now_default())


def entry_key(table: str) -> sa.Column[Any]:
    """``entry_id``: the key of a table of one row per queue entry, deleted with the entry."""
    return sa.Column(
        "entry_id",
        uuid_type(),
        sa.ForeignKey("queue_entry.id", ondelete="CASCADE", name=f"{table}_entry_fkey"),
        primary_key=True,
    )
