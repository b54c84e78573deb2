"""A second owner: an owner invites another owner of the organisation with a one-time link.

- ``owner_invite``: the SHA-256 of the link's secret, the organisation, the email invited, when it expires
  and when it was used (once, like ``staff_invite``).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from waitline.migrations import dialect

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "owner_invite",
        sa.Column("token_hash", sa.Text(), primary_key=True),
        sa.Column(
            "organisation_id",
            dialect.uuid_type(),
            sa.ForeignKey("organisation.id", ondelete="CASCADE", name="owner_invite_organisation_fkey"),
            nullable=False,
        ),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("expires_at", dialect.timestamp_type(), nullable=False),
        sa.Column("used_at", dialect.timestamp_type(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("owner_invite")
