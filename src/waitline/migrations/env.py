"""Alembic runs here with the connection ``waitline.store.migrations`` hands it (online mode only)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
