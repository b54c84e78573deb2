"""Messages in the guest's language, "almost up" on every channel, and STOP for texts only.

- ``guest_language``: the language a guest joined in (the join page's, or the API's ``language``), one per
  entry, deleted with it; an entry without one reads its location's default language.
- ``message_wording``: a restaurant's own text per message, channel AND language (edited in one language,
  it overrides the default of that language only). ``message_text`` keeps the on/off switch per message
  and channel; the texts it held move here, under the location's default language.
- ``outbox_almost_up_once``: unique per entry and channel (was: per entry), so "almost up" gets email and
  push twins like every other message, still once each.
- The enqueue trigger no longer leaves out numbers that replied STOP: their SMS row is written (the worker
  skips it), so the email and push twins are still made. The triggers of 0008 and 0010 are replaced
  (PostgreSQL: frozen copies of store/sql/ below; SQLite: their twins below).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

import importlib
from types import ModuleType

import sqlalchemy as sa
from alembic import op

from waitline.migrations import dialect

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _revision(name: str) -> ModuleType:
    """An earlier revision's module, for the triggers a downgrade puts back."""
    return importlib.import_module(f"waitline.migrations.versions.{name}")


def upgrade() -> None:
    op.create_table(
        "guest_language",
        dialect.entry_key("guest_language"),
        sa.Column("language", sa.Text(), nullable=False),
    )
    op.create_table(
        "message_wording",
        dialect.restaurant_fk(),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("language", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("restaurant_id", "kind", "channel", "language", name="message_wording_pkey"),
    )
    op.execute(
        """
        INSERT INTO message_wording (restaurant_id, kind, channel, language, body)
        SELECT t.restaurant_id, t.kind, t.channel, r.default_language, t.body
        FROM message_text t JOIN restaurant r ON r.id = t.restaurant_id
        WHERE t.body IS NOT NULL
        """
    )
    op.drop_column("message_text", "body")
    op.drop_index("outbox_almost_up_once", table_name="outbox")
    _almost_up_once(["entry_id", "channel"])
    _replace_triggers(
        functions=(ENQUEUE_FUNCTION, CHANNEL_TWINS_FUNCTION),
        twins_when="NEW.channel = 'sms'",
        sqlite=(SQLITE_ENQUEUE, SQLITE_ALMOST_UP, SQLITE_CHANNEL_TWINS),
    )


def downgrade() -> None:
    outbox_0008, channels_0010 = _revision("0008_outbox"), _revision("0010_channels")
    _replace_triggers(
        functions=(outbox_0008.ENQUEUE_FUNCTION, channels_0010.CHANNEL_TWINS_FUNCTION),
        twins_when="NEW.channel = 'sms' AND NEW.kind <> 'almost_up'",
        sqlite=(outbox_0008.SQLITE_ENQUEUE, outbox_0008.SQLITE_ALMOST_UP, channels_0010.SQLITE_CHANNEL_TWINS),
    )
    op.drop_index("outbox_almost_up_once", table_name="outbox")
    op.execute("DELETE FROM outbox WHERE kind = 'almost_up' AND channel <> 'sms'")
    _almost_up_once(["entry_id"])
    op.add_column("message_text", sa.Column("body", sa.Text(), nullable=True))
    op.execute(
        """
        UPDATE message_text SET body = (
            SELECT w.body FROM message_wording w JOIN restaurant r ON r.id = w.restaurant_id
            WHERE w.restaurant_id = message_text.restaurant_id AND w.kind = message_text.kind
              AND w.channel = message_text.channel AND w.language = r.default_language
        )
        """
    )
    op.drop_table("message_wording")
    op.drop_table("guest_language")


def _replace_triggers(*, functions: tuple[str, str], twins_when: str, sqlite: tuple[str, str, str]) -> None:
    """The outbox's triggers as given: PostgreSQL's two functions and the twins trigger's condition, or
    SQLite's three triggers."""
    if dialect.is_postgresql():
        for function in functions:
            op.execute(function)
        op.execute("DROP TRIGGER outbox_channel_twins ON outbox")
        op.execute(
            "CREATE TRIGGER outbox_channel_twins AFTER INSERT ON outbox FOR EACH ROW "
            f"WHEN ({twins_when}) EXECUTE FUNCTION waitline_channel_twins()"
        )
        return
    for trigger in ("outbox_enqueue", "outbox_almost_up", "outbox_channel_twins"):
        op.execute(f"DROP TRIGGER {trigger}")
    for trigger in sqlite:
        op.execute(trigger)


def _almost_up_once(columns: list[str]) -> None:
    almost_up = sa.text("kind = 'almost_up'")
    op.create_index(
        "outbox_almost_up_once",
        "outbox",
        columns,
        unique=True,
        postgresql_where=almost_up,
        sqlite_where=almost_up,
    )


# The SQLite twins of waitline_enqueue_messages and waitline_channel_twins (store/sql/), run in the
# appending transaction.
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
    WHERE e.id = NEW.entry_id AND r.notify;
    -- A call also schedules the reminder at half the hold window.
    INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, due_at)
    SELECT NEW.restaurant_id, e.id, NEW.seq, 'reminder', 'sms', e.mobile,
           strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || (r.hold_minutes * 30) || ' seconds')
    FROM queue_entry e JOIN restaurant r ON r.id = e.restaurant_id
    WHERE NEW.type = 'called' AND e.id = NEW.entry_id AND r.notify AND r.hold_minutes > 0;
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
      AND w.token_number > NEW.token_number;
END
"""
SQLITE_CHANNEL_TWINS = """
CREATE TRIGGER outbox_channel_twins AFTER INSERT ON outbox
WHEN NEW.channel = 'sms'
BEGIN
    INSERT OR IGNORE INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position,
                                  due_at)
    SELECT NEW.restaurant_id, NEW.entry_id, NEW.event_seq, NEW.kind, 'email', g.email, NEW.position,
           NEW.due_at
    FROM guest_email g
    WHERE g.entry_id = NEW.entry_id;
    INSERT OR IGNORE INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position,
                                  due_at)
    SELECT NEW.restaurant_id, NEW.entry_id, NEW.event_seq, NEW.kind, 'push', p.endpoint, NEW.position,
           NEW.due_at
    FROM push_subscription p
    WHERE p.entry_id = NEW.entry_id;
END
"""

# Frozen copies of store/sql/waitline_enqueue_messages.sql and waitline_channel_twins.sql as of this revision.
ENQUEUE_FUNCTION = """
-- The outbox is written by the event that causes its messages, in the same statement and transaction: an
-- AFTER INSERT trigger on queue_event, so every way an event is appended (waitline_join,
-- waitline_call_next, waitline_append_event) enqueues without a round trip of its own, and a rolled-back
-- change leaves no message behind. The SQLite twins are the triggers outbox_enqueue and outbox_almost_up of
-- migration 0011.
--
-- joined -> joined; called -> table_ready, and a reminder due at half the hold window; no_show, left and
-- cancelled -> the same. A party that moves up to position N (restaurant.notify_almost_up) because a party
-- ahead of it left the waiting list gets almost_up, once per channel (the unique index
-- outbox_almost_up_once on entry and channel; waitline_channel_twins writes the email and push twins).
-- The position the guest was at when the event happened is kept with joined and almost_up (the text says it,
-- whenever it is sent). A number that replied STOP still gets its SMS row, which the worker settles as
-- skipped ("the number opted out"): STOP is Twilio's opt-out from that number's texts only, so the row is
-- what the guest's email and push twins are made from.
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
    WHERE e.id = NEW.entry_id;
    -- A call also schedules the reminder at half the hold window (the worker drops it if the guest has
    -- confirmed or moved on by then).
    IF NEW.type = 'called' THEN
        INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, due_at)
        SELECT NEW.restaurant_id, e.id, NEW.seq, 'reminder', 'sms', e.mobile,
               now() + v_hold * interval '30 seconds'
        FROM queue_entry e
        WHERE e.id = NEW.entry_id AND v_hold > 0;
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
        ON CONFLICT (entry_id, channel) WHERE kind = 'almost_up' DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;
"""
CHANNEL_TWINS_FUNCTION = """
-- Email and web push go with every text (issue 9): each message the queue_event trigger writes to the outbox
-- for the SMS channel gets a twin row for the email channel when the guest gave an address (guest_email),
-- and one for the push channel when the guest's browser subscribed (push_subscription), in the same
-- statement. Per-channel rows, so each channel has its own state, attempts, reason and retries, and the
-- worker's claim, lease and "once" guarantees hold for every channel as for texts. The twins carry no
-- idempotency key (the resend's key is unique per restaurant). "Almost up" is once per entry and channel
-- (outbox_almost_up_once): its SMS row is written only once (ON CONFLICT DO NOTHING fires no trigger), and
-- a twin that would be a second one is dropped the same way. The SQLite twin is the trigger
-- outbox_channel_twins of migration 0011.
CREATE OR REPLACE FUNCTION waitline_channel_twins() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position, due_at)
    SELECT NEW.restaurant_id, NEW.entry_id, NEW.event_seq, NEW.kind, 'email', g.email, NEW.position,
           NEW.due_at
    FROM guest_email g
    WHERE g.entry_id = NEW.entry_id
    ON CONFLICT DO NOTHING;
    INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position, due_at)
    SELECT NEW.restaurant_id, NEW.entry_id, NEW.event_seq, NEW.kind, 'push', p.endpoint, NEW.position,
           NEW.due_at
    FROM push_subscription p
    WHERE p.entry_id = NEW.entry_id
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
"""
