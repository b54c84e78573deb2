"""Email and web push to guests: the address a guest gave, the browser's push subscription, and twins of
each text in the outbox for those channels.

- ``guest_email``: the optional address given with a join (one per entry; deleted with the entry).
- ``push_subscription``: the entry's browser push subscription (endpoint and keys; the latest one wins).
- Each outbox row for the SMS channel gets twins for the email and push channels in the same statement
  when the guest gave an address / subscribed (PostgreSQL: ``waitline_channel_twins``, a frozen copy of
  store/sql/; SQLite: the trigger below). Not for "almost up" (its unique index allows one row per entry).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from waitline.migrations import dialect

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guest_email",
        dialect.entry_key("guest_email"),
        sa.Column("email", sa.Text(), nullable=False),
    )
    op.create_table(
        "push_subscription",
        dialect.entry_key("push_subscription"),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("p256dh", sa.Text(), nullable=False),
        sa.Column("auth", sa.Text(), nullable=False),
        dialect.created_at(),
    )
    if dialect.is_postgresql():
        op.execute(CHANNEL_TWINS_FUNCTION)
        op.execute(
            "CREATE TRIGGER outbox_channel_twins AFTER INSERT ON outbox FOR EACH ROW "
            "WHEN (NEW.channel = 'sms' AND NEW.kind <> 'almost_up') EXECUTE FUNCTION waitline_channel_twins()"
        )
    else:
        op.execute(SQLITE_CHANNEL_TWINS)


def downgrade() -> None:
    if dialect.is_postgresql():
        op.execute("DROP TRIGGER outbox_channel_twins ON outbox")
        op.execute("DROP FUNCTION waitline_channel_twins()")
    else:
        op.execute("DROP TRIGGER outbox_channel_twins")
    op.drop_table("push_subscription")
    op.drop_table("guest_email")


SQLITE_CHANNEL_TWINS = """
CREATE TRIGGER outbox_channel_twins AFTER INSERT ON outbox
WHEN NEW.channel = 'sms' AND NEW.kind <> 'almost_up'
BEGIN
    INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position, due_at)
    SELECT NEW.restaurant_id, NEW.entry_id, NEW.event_seq, NEW.kind, 'email', g.email, NEW.position,
           NEW.due_at
    FROM guest_email g
    WHERE g.entry_id = NEW.entry_id;
    INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position, due_at)
    SELECT NEW.restaurant_id, NEW.entry_id, NEW.event_seq, NEW.kind, 'push', p.endpoint, NEW.position,
           NEW.due_at
    FROM push_subscription p
    WHERE p.entry_id = NEW.entry_id;
END
"""

# A frozen copy of store/sql/waitline_channel_twins.sql as of this revision.
CHANNEL_TWINS_FUNCTION = """
-- Email and web push go with every text (issue 9): each message the queue_event trigger writes to the outbox
-- for the SMS channel gets a twin row for the email channel when the guest gave an address (guest_email),
-- and one for the push channel when the guest's browser subscribed (push_subscription), in the same
-- statement. Per-channel rows, so each channel has its own state, attempts, reason and retries, and the
-- worker's claim, lease and "once" guarantees hold for every channel as for texts. The twins carry no
-- idempotency key (the resend's key is unique per restaurant) and are not made for "almost up" rows (their
-- unique index allows one per entry); the SQLite twin is the trigger outbox_channel_twins of migration 0010.
CREATE OR REPLACE FUNCTION waitline_channel_twins() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position, due_at)
    SELECT NEW.restaurant_id, NEW.entry_id, NEW.event_seq, NEW.kind, 'email', g.email, NEW.position,
           NEW.due_at
    FROM guest_email g
    WHERE g.entry_id = NEW.entry_id;
    INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position, due_at)
    SELECT NEW.restaurant_id, NEW.entry_id, NEW.event_seq, NEW.kind, 'push', p.endpoint, NEW.position,
           NEW.due_at
    FROM push_subscription p
    WHERE p.entry_id = NEW.entry_id;
    RETURN NULL;
END;
$$;
"""
