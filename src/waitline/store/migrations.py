"""Brings a database to the newest schema with Alembic; safe to run from several processes at once."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

# Any constant will do: it only has to be the same in every waitline process.
_MIGRATION_LOCK_ID = 0x5761_6974


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "waitline:migrations")
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # A migration may take longer than a request is allowed to.
            await connection.execute(text("SET LOCAL statement_timeout = 0"))
            # Two servers starting together: the second waits, then finds the schema current.
            # (On SQLite, BEGIN IMMEDIATE already serialises them.)
            await connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        await connection.run_sync(_upgrade_to_head)


def _upgrade_to_head(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")
