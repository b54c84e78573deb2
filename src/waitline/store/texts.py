"""A restaurant's own message texts, and which messages it switched off, per channel."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.store.statement import Statement

_ALL = Statement("SELECT kind, channel, body, enabled FROM message_text WHERE restaurant_id = :restaurant_id")
# The same upsert on both databases (SQLite has taken ON CONFLICT ... DO UPDATE since 3.24).
_SAVE = Statement(
    """
    INSERT INTO message_text (restaurant_id, kind, channel, body, enabled)
    VALUES (:restaurant_id, :kind, :channel, :body, :enabled)
    ON CONFLICT (restaurant_id, kind, channel) DO UPDATE SET body = excluded.body, enabled = excluded.enabled
    """
)


async def texts(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID
) -> dict[tuple[str, str], tuple[str | None, bool]]:
    """(kind, channel) -> (the restaurant's text or None for the default, enabled)."""
    rows = await connection.execute(_ALL.on(connection), {"restaurant_id": str(restaurant_id)})
    return {(row.kind, row.channel): (row.body, bool(row.enabled)) for row in rows}


async def save(
    *,
    connection: AsyncConnection,
    restaurant_id: uuid.UUID,
    kind: str,
    channel: str,
    body: str | None,
    enabled: bool,
) -> None:
    params = {
        "restaurant_id": str(restaurant_id),
        "kind": kind,
        "channel": channel,
        "body": body,
        "enabled": enabled,
    }
    await connection.execute(_SAVE.on(connection), params)
