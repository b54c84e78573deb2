"""Notifications: the outbox of messages to guests, written by the events that cause them.

- ``outbox``: one row per message and channel, with its state (pending, sending, sent, delivered, failed,
  skipped), attempts, when it is next due, the worker's lease, and the provider's id once sent.
- Written in the same transaction as its event, by a trigger on ``queue_event`` (PostgreSQL:
  ``waitline_enqueue_messages``, a frozen copy of store/sql/; SQLite: its twin below).
- ``restaurant``: ``notify`` (messages on or off), ``notify_almost_up`` (the position that gets "almost up",
  0 for never), ``hold_minutes`` and ``auto_no_show`` (the hold window after a call).
- ``sms_opt_out``: numbers that replied STOP to a restaurant.
- ``message_text``: a restaurant's own texts, and which messages it switched off, per channel.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from waitline.migrations import dialect

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_OPEN = "state IN ('pending', 'sending')"


def upgrade() -> None:
    # Plain ADD COLUMN on both (a batch copy of restaurant would trip SQLite's foreign keys).
    op.add_column("restaurant", sa.Column("notify", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column(
        "restaurant", sa.Column("notify_almost_up", sa.Integer(), nullable=False, server_default="3")
    )
    op.add_column("restaurant", sa.Column("hold_minutes", sa.Integer(), nullable=False, server_default="10"))
    op.add_column(
        "restaurant", sa.Column("auto_no_show", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_table(
        "sms_opt_out",
        dialect.restaurant_fk(),
        sa.Column("mobile", sa.Text(), nullable=False),
        dialect.created_at(),
        sa.PrimaryKeyConstraint("restaurant_id", "mobile", name="sms_opt_out_pkey"),
    )
    # A restaurant's own text for a kind of message on a channel, and whether that message goes out at all.
    op.create_table(
        "message_text",
        dialect.restaurant_fk(),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),  # NULL: the default text
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.PrimaryKeyConstraint("restaurant_id", "kind", "channel", name="message_text_pkey"),
    )
    op.create_table(
        "outbox",
        # Ascending: the order messages were enqueued in, which is the order they are sent in.
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        dialect.restaurant_fk(),
        sa.Column("entry_id", dialect.uuid_type(), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        # joined and almost_up: the guest's position when the event happened.
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("due_at", dialect.timestamp_type(), nullable=False, server_default=dialect.now_default()),
        dialect.created_at(),
        # The worker that holds it (a random claim id) and until when; a lease that ran out while the message
        # was being sent leaves it in doubt: in_doubt_since is when that attempt began.
        sa.Column("claim", sa.Text(), nullable=True),
        sa.Column("lease_until", dialect.timestamp_type(), nullable=True),
        sa.Column("attempt_started_at", dialect.timestamp_type(), nullable=True),
        sa.Column("in_doubt_since", dialect.timestamp_type(), nullable=True),
        sa.Column("provider_id", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("sent_at", dialect.timestamp_type(), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'skipped')", name="outbox_state"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "outbox_due_idx",
        "outbox",
        ["due_at", "id"],
        postgresql_where=sa.text(_OPEN),
        sqlite_where=sa.text(_OPEN),
    )
    op.create_index(
        "outbox_recipient_open_idx",
        "outbox",
        ["recipient", "id"],
        postgresql_where=sa.text(_OPEN),
        sqlite_where=sa.text(_OPEN),
    )
    op.create_index("outbox_entry_idx", "outbox", ["entry_id", "id"])
    almost_up = sa.text("kind = 'almost_up'")
    op.create_index(
        "outbox_almost_up_once",
        "outbox",
        ["entry_id"],
        unique=True,
        postgresql_where=almost_up,
        sqlite_where=almost_up,
    )
    op.create_index(
        "outbox_resend_once",
        "outbox",
        ["restaurant_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
    )
    if dialect.is_postgresql():
        op.execute(ENQUEUE_FUNCTION)
        op.execute(
            "CREATE TRIGGER queue_event_enqueue AFTER INSERT ON queue_event "
            "FOR EACH ROW EXECUTE FUNCTION waitline_enqueue_messages()"
        )
    else:
        op.execute(SQLITE_ENQUEUE)
        op.execute(SQLITE_ALMOST_UP)


def downgrade() -> None:
    if dialect.is_postgresql():
        op.execute("DROP TRIGGER queue_event_enqueue ON queue_event")
        op.execute("DROP FUNCTION waitline_enqueue_messages()")
    else:
        op.execute("DROP TRIGGER outbox_enqueue")
        op.execute("DROP TRIGGER outbox_almost_up")
    op.drop_table("outbox")
    op.drop_table("message_text")
    op.drop_table("sms_opt_out")
    for column in ("auto_no_show", "hold_minutes", "notify_almost_up", "notify"):
        op.execute(f"ALTER TABLE restaurant DROP COLUMN {column}")


# The SQLite twins of waitline_enqueue_messages (store/sql/), run in the appending transaction.
SQLITE_ENQUEUE = """
CREATE TRIGGER outbox_enqueue AFTER INSERT ON queue_event
WHEN NEW.entry_id IS NOT NULL AND NEW.type IN ('joined', 'called', 'no_show', 'left', 'cancelled')
BEGIN
    INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position)
    SELECT NEW.restaurant_id, e.id, NEW.seq,
           CASE NEW.type WHEN 'called' THEN 'table_ready' ELSE NEW.type END, 'sms', e.mobile,
           CASE WHEN NEW.type = 'joined' THEN (
               SELECT count(*) FROM queue_entry w
               WHERE w.restaurant_id = NEW.restaurant_id AND w.status = 'waiting'
                 AND w.token_number <= e.token_number
           ) END
    FROM queue_entry e JOIN restaurant r ON r.id = e.restaurant_id
    WHERE e.id = NEW.entry_id AND r.notify
      AND NOT EXISTS (
          SELECT 1 FROM sms_opt_out o WHERE o.restaurant_id = NEW.restaurant_id AND o.mobile = e.mobile
      );
    -- A call also schedules the reminder at half the hold window.
    INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, due_at)
    SELECT NEW.restaurant_id, e.id, NEW.seq, 'reminder', 'sms', e.mobile,
           strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || (r.hold_minutes * 30) || ' seconds')
    FROM queue_entry e JOIN restaurant r ON r.id = e.restaurant_id
    WHERE NEW.type = 'called' AND e.id = NEW.entry_id AND r.notify AND r.hold_minutes > 0
      AND NOT EXISTS (
          SELECT 1 FROM sms_opt_out o WHERE o.restaurant_id = NEW.restaurant_id AND o.mobile = e.mobile
      );
END
"""
SQLITE_ALMOST_UP = """
CREATE TRIGGER outbox_almost_up AFTER INSERT ON queue_event
WHEN NEW.entry_id IS NOT NULL AND (
    NEW.type = 'called'
    OR (NEW.type IN ('left', 'cancelled')
        AND (SELECT called_at FROM queue_entry WHERE id = NEW.entry_id) IS NULL)
)
BEGIN
    INSERT OR IGNORE INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position)
    SELECT NEW.restaurant_id, w.id, NEW.seq, 'almost_up', 'sms', w.mobile, r.notify_almost_up
    FROM restaurant r, (
        SELECT e.id, e.mobile, e.token_number FROM queue_entry e
        WHERE e.restaurant_id = NEW.restaurant_id AND e.status = 'waiting'
        ORDER BY e.token_number
        LIMIT 1 OFFSET (SELECT max(notify_almost_up, 1) - 1 FROM restaurant WHERE id = NEW.restaurant_id)
    ) w
    WHERE r.id = NEW.restaurant_id AND r.notify AND r.notify_almost_up > 0
      AND w.token_number > NEW.token_number
      AND NOT EXISTS (
          SELECT 1 FROM sms_opt_out o WHERE o.restaurant_id = NEW.restaurant_id AND o.mobile = w.mobile
      );
END
"""

# A frozen copy of store/sql/waitline_enqueue_messages.sql as of this revision.
ENQUEUE_FUNCTION = """
-- The outbox is written by the event that causes its messages, in the same statement and transaction: an
-- AFTER INSERT trigger on queue_event, so every way an event is appended (waitline_join,
-- waitline_call_next, waitline_append_event) enqueues without a round trip of its own, and a rolled-back
-- change leaves no message behind. The SQLite twin is the trigger outbox_enqueue of migration 0006.
--
-- joined -> joined; called -> table_ready, and a reminder due at half the hold window; no_show, left and
-- cancelled -> the same. A party that moves up to position N (restaurant.notify_almost_up) because a party
-- ahead of it left the waiting list gets almost_up, once (the unique index outbox_almost_up_once). The
-- position the guest was at when the event happened is kept with joined and almost_up (the text says it,
-- whenever it is sent). Opted-out numbers get nothing.
CREATE OR REPLACE FUNCTION waitline_enqueue_messages() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_notify boolean;
    v_position integer;
    v_hold integer;
    v_kind text;
BEGIN
    SELECT r.notify, r.notify_almost_up, r.hold_minutes INTO v_notify, v_position, v_hold
    FROM restaurant r WHERE r.id = NEW.restaurant_id;
    IF NOT v_notify OR NEW.entry_id IS NULL THEN
        RETURN NULL;
    END IF;
    v_kind := CASE NEW.type
        WHEN 'joined' THEN 'joined'
        WHEN 'called' THEN 'table_ready'
        WHEN 'no_show' THEN 'no_show'
        WHEN 'left' THEN 'left'
        WHEN 'cancelled' THEN 'cancelled'
    END;
    IF v_kind IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position)
    SELECT NEW.restaurant_id, e.id, NEW.seq, v_kind, 'sms', e.mobile,
           CASE WHEN v_kind = 'joined' THEN (
               SELECT count(*) FROM queue_entry w
               WHERE w.restaurant_id = NEW.restaurant_id AND w.status = 'waiting'
                 AND w.token_number <= e.token_number
           ) END
    FROM queue_entry e
    WHERE e.id = NEW.entry_id
      AND NOT EXISTS (
          SELECT 1 FROM sms_opt_out o WHERE o.restaurant_id = NEW.restaurant_id AND o.mobile = e.mobile
      );
    -- A call also schedules the reminder at half the hold window (the worker drops it if the guest has
    -- confirmed or moved on by then).
    IF NEW.type = 'called' THEN
        INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, due_at)
        SELECT NEW.restaurant_id, e.id, NEW.seq, 'reminder', 'sms', e.mobile,
               now() + v_hold * interval '30 seconds'
        FROM queue_entry e
        WHERE e.id = NEW.entry_id AND v_hold > 0
          AND NOT EXISTS (
              SELECT 1 FROM sms_opt_out o WHERE o.restaurant_id = NEW.restaurant_id AND o.mobile = e.mobile
          );
    END IF;
    -- A party left the waiting list from ahead of others (a call, or leaving before being called).
    IF NEW.type IN ('called', 'left', 'cancelled') AND v_position > 0 AND (
        NEW.type = 'called' OR (SELECT e.called_at FROM queue_entry e WHERE e.id = NEW.entry_id) IS NULL
    ) THEN
        INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position)
        SELECT NEW.restaurant_id, w.id, NEW.seq, 'almost_up', 'sms', w.mobile, v_position
        FROM (
            SELECT e.id, e.mobile, e.token_number FROM queue_entry e
            WHERE e.restaurant_id = NEW.restaurant_id AND e.status = 'waiting'
            ORDER BY e.token_number
            LIMIT 1 OFFSET v_position - 1
        ) w
        WHERE w.token_number > NEW.token_number
          AND NOT EXISTS (
              SELECT 1 FROM sms_opt_out o WHERE o.restaurant_id = NEW.restaurant_id AND o.mobile = w.mobile
          )
        ON CONFLICT (entry_id) WHERE kind = 'almost_up' DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;
"""
