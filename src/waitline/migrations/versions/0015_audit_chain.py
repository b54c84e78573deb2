"""The audit trail hash-chained like the queue's log: ``audit_event.seq`` (1, 2, 3, ... per organisation),
``prev_hash`` and ``hash``; the organisation row keeps the head (``audit_seq``, ``audit_hash``), updated in
the same transaction as each entry. Entries recorded before this revision are chained here, in the order
they were recorded (created_at, then id). ``waitline audit verify`` walks the chains.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from waitline.domain.audit import AuditEntry

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    op.add_column("audit_event", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.add_column("audit_event", sa.Column("prev_hash", sa.Text(), nullable=True))
    op.add_column("audit_event", sa.Column("hash", sa.Text(), nullable=True))
    op.add_column("organisation", sa.Column("audit_seq", sa.BigInteger(), nullable=False, server_default="0"))
    op.add_column("organisation", sa.Column("audit_hash", sa.Text(), nullable=False, server_default=GENESIS))
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, organisation_id, restaurant_id, actor, action, before, after, created_at "
            "FROM audit_event ORDER BY organisation_id, created_at, id"
        )
    ).mappings()
    heads: dict[str, tuple[int, str]] = {}
    for row in rows.all():
        organisation = str(row["organisation_id"])
        seq, prev_hash = heads.get(organisation, (0, GENESIS))
        entry = AuditEntry.from_row({**row, "seq": seq + 1, "prev_hash": prev_hash, "hash": ""})
        sealed = entry.expected_hash(prev_hash)
        bind.execute(
            sa.text("UPDATE audit_event SET seq = :seq, prev_hash = :prev_hash, hash = :hash WHERE id = :id"),
            {"seq": seq + 1, "prev_hash": prev_hash, "hash": sealed, "id": row["id"]},
        )
        heads[organisation] = (seq + 1, sealed)
    for organisation, (seq, sealed) in heads.items():
        bind.execute(
            sa.text("UPDATE organisation SET audit_seq = :seq, audit_hash = :hash WHERE id = :id"),
            {"seq": seq, "hash": sealed, "id": organisation},
        )
    op.create_index("audit_event_chain_key", "audit_event", ["organisation_id", "seq"], unique=True)


def downgrade() -> None:
    op.drop_index("audit_event_chain_key", "audit_event")
    for column in ("hash", "prev_hash", "seq"):
        op.execute(f"ALTER TABLE audit_event DROP COLUMN {column}")
    for column in ("audit_hash", "audit_seq"):
        op.execute(f"ALTER TABLE organisation DROP COLUMN {column}")
