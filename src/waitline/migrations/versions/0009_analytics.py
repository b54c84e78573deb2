"""Analytics: the wait each party was quoted when it joined, and the indexes the analytics queries run on.

- ``queue_entry.position_at_join``, ``quoted_low_minutes``, ``quoted_high_minutes``: the place a party joined
  at and the range of minutes its page quoted then (NULL for entries made before this revision). What the
  analytics compare the actual wait with, and what the calibrated estimate learns from.
- ``queue_entry_analytics_idx`` (restaurant_id, created_at): a date range of a location's entries. On
  PostgreSQL it carries every column the analytics read (INCLUDE), so that they are index-only scans.
- ``queue_event_analytics_idx`` (restaurant_id, at, type): a date range of a location's events counted by
  type without reading the table.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

QUOTE_COLUMNS = ("position_at_join", "quoted_low_minutes", "quoted_high_minutes")
ENTRY_ANALYTICS_INCLUDE = (
    "status",
    "party_size",
    "called_at",
    "finished_at",
    *QUOTE_COLUMNS,
)


# Plain ALTER TABLE ADD/DROP COLUMN on both databases (SQLite has had DROP COLUMN since 3.35): a batch
# rebuild of queue_entry on SQLite would break the triggers of migration 0008 that name the table.


def upgrade() -> None:
    for column in QUOTE_COLUMNS:
        op.add_column("queue_entry", sa.Column(column, sa.Integer(), nullable=True))
    op.create_index(
        "queue_entry_analytics_idx",
        "queue_entry",
        ["restaurant_id", "created_at"],
        postgresql_include=list(ENTRY_ANALYTICS_INCLUDE),
    )
    op.create_index("queue_event_analytics_idx", "queue_event", ["restaurant_id", "at", "type"])


def downgrade() -> None:
    op.drop_index("queue_event_analytics_idx", "queue_event")
    op.drop_index("queue_entry_analytics_idx", "queue_entry")
    for column in reversed(QUOTE_COLUMNS):
        op.execute(f"ALTER TABLE queue_entry DROP COLUMN {column}")
