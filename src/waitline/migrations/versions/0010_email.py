"""Email to guests: the address a guest gave, and an email twin of each text in the outbox.

- ``guest_email``: the optional address given with a join (one per entry; deleted with the entry).
- Each outbox row for the SMS channel gets a twin for the email channel in the same statement when the
  guest gave an address (PostgreSQL: ``waitline_email_twin``, a frozen copy of store/sql/; SQLite: the
  trigger below). Not for "almost up" (its unique index allows one row per entry).

Revision ID: 0010
Revises: 0008 (the lead re-chains it after 0009 at merge)
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from waitline.migrations import dialect

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guest_email",
        sa.Column(
            "entry_id",
            dialect.uuid_type(),
            sa.ForeignKey("queue_entry.id", ondelete="CASCADE", name="guest_email_entry_fkey"),
            primary_key=True,
        ),
        sa.Column("email", sa.Text(), nullable=False),
    )
    if dialect.is_postgresql():
        op.execute(EMAIL_TWIN_FUNCTION)
        op.execute(
            "CREATE TRIGGER outbox_email_twin AFTER INSERT ON outbox FOR EACH ROW "
            "WHEN (NEW.channel = 'sms' AND NEW.kind <> 'almost_up') EXECUTE FUNCTION waitline_email_twin()"
        )
    else:
        op.execute(SQLITE_EMAIL_TWIN)


def downgrade() -> None:
    if dialect.is_postgresql():
        op.execute("DROP TRIGGER outbox_email_twin ON outbox")
        op.execute("DROP FUNCTION waitline_email_twin()")
    else:
        op.execute("DROP TRIGGER outbox_email_twin")
    op.drop_table("guest_email")


SQLITE_EMAIL_TWIN = """
CREATE TRIGGER outbox_email_twin AFTER INSERT ON outbox
WHEN NEW.channel = 'sms' AND NEW.kind <> 'almost_up'
BEGIN
    INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position, due_at)
    SELECT NEW.restaurant_id, NEW.entry_id, NEW.event_seq, NEW.kind, 'email', g.email, NEW.position,
           NEW.due_at
    FROM guest_email g
    WHERE g.entry_id = NEW.entry_id;
END
"""

# A frozen copy of store/sql/waitline_email_twin.sql as of this revision.
EMAIL_TWIN_FUNCTION = """
-- Email goes with every text (issue 9): each message the queue_event trigger writes to the outbox for the
-- SMS channel gets a twin row for the email channel, in the same statement, when the guest gave an address
-- (guest_email). Per-channel rows, so each channel has its own state, attempts, reason and retries, and the
-- worker's claim, lease and "once" guarantees hold for email exactly as for texts. The twin carries no
-- idempotency key (the resend's key is unique per restaurant) and is not made for "almost up" rows (their
-- unique index allows one per entry); the SQLite twin is the trigger outbox_email_twin of migration 0010.
CREATE OR REPLACE FUNCTION waitline_email_twin() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position, due_at)
    SELECT NEW.restaurant_id, NEW.entry_id, NEW.event_seq, NEW.kind, 'email', g.email, NEW.position,
           NEW.due_at
    FROM guest_email g
    WHERE g.entry_id = NEW.entry_id;
    RETURN NULL;
END;
$$;
"""
