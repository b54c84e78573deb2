"""Staff accounts for the web pages, their sessions, login throttling, and change signals for live pages.

- ``staff_user``: one login (email + argon2id hash) for one restaurant.
- ``staff_session``: the SHA-256 of each session cookie's secret, with its absolute expiry.
- ``login_throttle``: failed login attempts keyed by restaurant and email, whether or not that email has an
  account (so the lockout says nothing about which emails exist); shared by every app instance.
- Change signals, sent from triggers so that no statement of the queue has to remember them:
  PostgreSQL ``NOTIFY waitline_queue, '<restaurant id>:<txid>'`` after a queue entry is inserted, deleted or
  changes status, and after a restaurant opens or pauses its queue (delivered at commit, dropped on rollback);
  SQLite (no NOTIFY) bumps ``queue_version.version`` of the restaurant in the same transaction, which each
  app process polls.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from waitline.migrations import dialect

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CHANNEL = "waitline_queue"


def upgrade() -> None:
    op.create_table(
        "staff_user",
        sa.Column("id", dialect.uuid_type(), primary_key=True),
        dialect.restaurant_fk(),
        # Lower-cased and trimmed: one account per address and restaurant however it is typed.
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        dialect.created_at(),
        sa.UniqueConstraint("restaurant_id", "email", name="staff_user_email_key"),
    )
    op.create_table(
        "staff_session",
        # SHA-256 of the 256-bit secret in the cookie: the secret itself is never stored.
        sa.Column("token_hash", sa.Text(), primary_key=True),
        sa.Column(
            "staff_id",
            dialect.uuid_type(),
            sa.ForeignKey("staff_user.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        dialect.created_at(),
        sa.Column("expires_at", dialect.timestamp_type(), nullable=False),
    )
    op.create_table(
        "login_throttle",
        dialect.restaurant_fk(),
        sa.Column("email", sa.Text(), nullable=False),
        # Consecutive failed (or still unfinished) attempts; a successful login deletes the row.
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", dialect.timestamp_type(), nullable=True),
        sa.Column("last_attempt_at", dialect.timestamp_type(), nullable=False),
        sa.PrimaryKeyConstraint("restaurant_id", "email", name="login_throttle_pkey"),
    )
    # Serves the staff dashboard's counts of the day (the parties that joined since midnight).
    op.create_index("queue_entry_created_idx", "queue_entry", ["restaurant_id", "created_at"])
    if dialect.is_postgresql():
        for statement in POSTGRESQL_SIGNALS:
            op.execute(statement)
    else:
        op.create_table(
            "queue_version",
            sa.Column("restaurant_id", sa.String(36), primary_key=True),
            sa.Column("version", sa.BigInteger(), nullable=False),
        )
        for statement in SQLITE_SIGNALS:
            op.execute(statement)


def downgrade() -> None:
    if dialect.is_postgresql():
        op.execute("DROP TRIGGER queue_entry_notify ON queue_entry")
        op.execute("DROP TRIGGER restaurant_notify ON restaurant")
        op.execute("DROP FUNCTION waitline_notify_queue_entry()")
        op.execute("DROP FUNCTION waitline_notify_restaurant()")
    else:
        for trigger in ("queue_entry_insert", "queue_entry_status", "queue_entry_delete", "restaurant_open"):
            op.execute(f"DROP TRIGGER {trigger}_version")
        op.drop_table("queue_version")
    op.drop_index("queue_entry_created_idx", "queue_entry")
    op.drop_table("login_throttle")
    op.drop_table("staff_session")
    op.drop_table("staff_user")


# A notification only wakes the pages of one restaurant; they re-read the state. PostgreSQL folds identical
# notifications of one transaction into one, so a statement touching many rows sends one per restaurant.
POSTGRESQL_SIGNALS = (
    f"""
    CREATE FUNCTION waitline_notify_queue_entry() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            PERFORM pg_notify('{CHANNEL}', OLD.restaurant_id::text || ':' || txid_current()::text);
        ELSE
            PERFORM pg_notify('{CHANNEL}', NEW.restaurant_id::text || ':' || txid_current()::text);
        END IF;
        RETURN NULL;
    END;
    $$
    """,
    f"""
    CREATE FUNCTION waitline_notify_restaurant() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('{CHANNEL}', NEW.id::text || ':' || txid_current()::text);
        RETURN NULL;
    END;
    $$
    """,
    """
    CREATE TRIGGER queue_entry_notify
    AFTER INSERT OR DELETE OR UPDATE OF status ON queue_entry
    FOR EACH ROW EXECUTE FUNCTION waitline_notify_queue_entry()
    """,
    """
    CREATE TRIGGER restaurant_notify
    AFTER UPDATE OF queue_open ON restaurant
    FOR EACH ROW WHEN (OLD.queue_open IS DISTINCT FROM NEW.queue_open)
    EXECUTE FUNCTION waitline_notify_restaurant()
    """,
)


def _sqlite_bump(name: str, event: str, restaurant_id: str, when: str = "") -> str:
    return f"""
    CREATE TRIGGER {name}_version AFTER {event} {when}
    BEGIN
        INSERT OR IGNORE INTO queue_version (restaurant_id, version) VALUES ({restaurant_id}, 0);
        UPDATE queue_version SET version = version + 1 WHERE restaurant_id = {restaurant_id};
    END
    """


# Every write on SQLite already holds the database's write lock, so one more row update costs little.
SQLITE_SIGNALS = (
    _sqlite_bump("queue_entry_insert", "INSERT ON queue_entry", "NEW.restaurant_id"),
    _sqlite_bump("queue_entry_status", "UPDATE OF status ON queue_entry", "NEW.restaurant_id"),
    _sqlite_bump("queue_entry_delete", "DELETE ON queue_entry", "OLD.restaurant_id"),
    _sqlite_bump(
        "restaurant_open",
        "UPDATE OF queue_open ON restaurant",
        "NEW.id",
        when="FOR EACH ROW WHEN OLD.queue_open IS NOT NEW.queue_open",
    ),
)
