"""Owner sign-in throttled per (email, client address), as staff sign-in is (migration 0006): a stranger's
guesses lock out the stranger's address, never the owner signing in from another. Replaces the limit of ten
attempts an hour per owner email, which anyone could use to keep an owner out.

- ``owner_login_throttle``: consecutive failed (or unfinished) attempts per email and client, the lockout's
  end, the last attempt; a successful sign-in deletes the row.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from waitline.migrations import dialect

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "owner_login_throttle",
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("client", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", dialect.timestamp_type(), nullable=True),
        sa.Column("last_attempt_at", dialect.timestamp_type(), nullable=False),
        sa.PrimaryKeyConstraint("email", "client", name="owner_login_throttle_pkey"),
    )


def downgrade() -> None:
    op.drop_table("owner_login_throttle")
