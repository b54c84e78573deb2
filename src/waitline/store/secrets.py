"""Named server secrets, made by the first instance that needs one and read by every other."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.store.statement import Statement

_INSERT_SECRET = Statement(
    "INSERT INTO server_secret (name, value) VALUES (:name, :value) ON CONFLICT (name) DO NOTHING"
)
_SECRET = Statement("SELECT value FROM server_secret WHERE name = :name")


async def server_secret(*, connection: AsyncConnection, name: str, new_value: str) -> str:
    """The secret called ``name``: ``new_value`` if there was none yet, else the one another instance made."""
    await connection.execute(_INSERT_SECRET.on(connection), {"name": name, "value": new_value})
    return str((await connection.execute(_SECRET.on(connection), {"name": name})).scalar_one())
