"""Organisations own locations; owners, roles per location, revocation; the location's settings.

- ``organisation``: owns restaurants (locations). Every restaurant that exists before this revision gets an
  organisation of its own, named after it: nobody gains access to a location they could not reach before.
- ``organisation_owner``: an owner login (email + argon2id hash) of one organisation, owner of every
  location in it; ``owner_session`` holds the SHA-256 of each owner session cookie's secret.
- ``staff_user.role``: ``manager`` (settings and staff of that location) or ``host`` (runs the queue only).
  Staff logins that exist before this revision become hosts: the dashboard was all they could reach, so they
  keep exactly that; an owner made with ``waitline owner create`` hands out more.
- ``staff_user.revoked_at`` / ``api_token.revoked_at``: a revoked login or token is refused at its next
  request (the session look-up checks it, and revoking deletes the sessions in the same transaction).
- ``restaurant``: ``time_zone`` (IANA name), ``default_language``, ``max_waiting``, ``max_party_size``,
  ``opening_hours`` and ``closed_dates`` (JSON text, read by domain/hours.py); NULL limits mean no limit,
  NULL hours mean always open.
- ``staff_invite``: a one-time invitation link, known by the SHA-256 of its secret, with an expiry.
- ``audit_event``: organisation-level admin actions (who, what, before, after). Location-scoped ones go to
  the location's ``queue_event`` log as well (see services/admin.py).

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

from waitline.migrations import dialect

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisation",
        sa.Column("id", dialect.uuid_type(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        dialect.created_at(),
    )
    op.create_table(
        "organisation_owner",
        sa.Column("id", dialect.uuid_type(), primary_key=True),
        sa.Column(
            "organisation_id",
            dialect.uuid_type(),
            sa.ForeignKey("organisation.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("revoked_at", dialect.timestamp_type(), nullable=True),
        dialect.created_at(),
        sa.UniqueConstraint("email", name="organisation_owner_email_key"),
    )
    op.create_table(
        "owner_session",
        sa.Column("token_hash", sa.Text(), primary_key=True),
        sa.Column(
            "owner_id",
            dialect.uuid_type(),
            sa.ForeignKey("organisation_owner.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        dialect.created_at(),
        sa.Column("expires_at", dialect.timestamp_type(), nullable=False),
    )
    # Nullable in the schema (SQLite cannot add a NOT NULL foreign key to a table with rows); every
    # restaurant gets one below and services/restaurants.py never creates one without.
    if dialect.is_postgresql():
        op.add_column(
            "restaurant",
            sa.Column(
                "organisation_id", dialect.uuid_type(), sa.ForeignKey("organisation.id"), nullable=True
            ),
        )
    else:  # alembic would ask for batch mode: SQLite adds a column with a foreign key in plain SQL
        op.execute(
            "ALTER TABLE restaurant ADD COLUMN organisation_id VARCHAR(36) REFERENCES organisation (id)"
        )
    op.add_column("restaurant", sa.Column("time_zone", sa.Text(), nullable=False, server_default="UTC"))
    op.add_column("restaurant", sa.Column("default_language", sa.Text(), nullable=False, server_default="en"))
    op.add_column("restaurant", sa.Column("max_waiting", sa.Integer(), nullable=True))
    op.add_column("restaurant", sa.Column("max_party_size", sa.Integer(), nullable=True))
    op.add_column("restaurant", sa.Column("opening_hours", sa.Text(), nullable=True))
    op.add_column("restaurant", sa.Column("closed_dates", sa.Text(), nullable=True))
    op.create_index("restaurant_organisation_idx", "restaurant", ["organisation_id"])
    _give_each_restaurant_an_organisation()
    if dialect.is_postgresql():
        op.alter_column("restaurant", "organisation_id", nullable=False)

    op.add_column("staff_user", sa.Column("role", sa.Text(), nullable=False, server_default="host"))
    op.add_column("staff_user", sa.Column("revoked_at", dialect.timestamp_type(), nullable=True))
    op.add_column("api_token", sa.Column("revoked_at", dialect.timestamp_type(), nullable=True))
    if dialect.is_postgresql():
        op.create_check_constraint("staff_user_role_check", "staff_user", "role IN ('manager', 'host')")

    op.create_table(
        "staff_invite",
        sa.Column("token_hash", sa.Text(), primary_key=True),
        dialect.restaurant_fk(),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("expires_at", dialect.timestamp_type(), nullable=False),
        sa.Column("used_at", dialect.timestamp_type(), nullable=True),
        dialect.created_at(),
    )
    op.create_table(
        "audit_event",
        sa.Column("id", dialect.uuid_type(), primary_key=True),
        sa.Column(
            "organisation_id",
            dialect.uuid_type(),
            sa.ForeignKey("organisation.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("restaurant_id", dialect.uuid_type(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        dialect.created_at(),
    )
    op.create_index("audit_event_organisation_idx", "audit_event", ["organisation_id", "created_at"])


def _give_each_restaurant_an_organisation() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, name FROM restaurant")).all()
    for restaurant_id, name in rows:
        organisation_id = str(uuid.uuid4())
        bind.execute(
            sa.text("INSERT INTO organisation (id, name) VALUES (:id, :name)"),
            {"id": organisation_id, "name": name},
        )
        bind.execute(
            sa.text("UPDATE restaurant SET organisation_id = :organisation_id WHERE id = :id"),
            {"organisation_id": organisation_id, "id": str(restaurant_id)},
        )


def downgrade() -> None:
    op.drop_index("audit_event_organisation_idx", "audit_event")
    op.drop_table("audit_event")
    op.drop_table("staff_invite")
    if dialect.is_postgresql():
        op.drop_constraint("staff_user_role_check", "staff_user")
    op.drop_column("api_token", "revoked_at")
    op.drop_column("staff_user", "revoked_at")
    op.drop_column("staff_user", "role")
    op.drop_index("restaurant_organisation_idx", "restaurant")
    for column in (
        "closed_dates",
        "opening_hours",
        "max_party_size",
        "max_waiting",
        "default_language",
        "time_zone",
        "organisation_id",
    ):
        op.drop_column("restaurant", column)
    op.drop_table("owner_session")
    op.drop_table("organisation_owner")
    op.drop_table("organisation")
