"""Sign-in throttling per (account, address), and a server secret the instances share.

- ``login_throttle`` gains ``client`` (the address as the per-address limits count it) in its key: failed
  sign-ins lock out that address for that account, never the account for everyone, so a stranger's guesses
  cannot keep the real person out. The rows are a throttle's passing state: the table is made afresh.
- ``server_secret``: named random secrets made by the first instance that needs one and read by the others
  (the key of the CSRF tokens' HMAC), so that a form served by one instance is accepted by another.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from waitline.migrations import dialect

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _login_throttle(*, by_client: bool) -> None:
    client = [sa.Column("client", sa.Text(), nullable=False)] if by_client else []
    op.create_table(
        "login_throttle",
        dialect.restaurant_fk(),
        sa.Column("email", sa.Text(), nullable=False),
        *client,
        # Consecutive failed (or still unfinished) attempts; a successful login deletes the row.
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", dialect.timestamp_type(), nullable=True),
        sa.Column("last_attempt_at", dialect.timestamp_type(), nullable=False),
        sa.PrimaryKeyConstraint(
            "restaurant_id", "email", *(["client"] if by_client else []), name="login_throttle_pkey"
        ),
    )


def upgrade() -> None:
    op.drop_table("login_throttle")
    _login_throttle(by_client=True)
    op.create_table(
        "server_secret",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="server_secret_pkey"),
    )


def downgrade() -> None:
    op.drop_table("server_secret")
    op.drop_table("login_throttle")
    _login_throttle(by_client=False)
