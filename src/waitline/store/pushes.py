"""A guest's browser push subscription (``push_subscription``, migration 0010): the latest one per entry."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.store.statement import Statement

_SUBSCRIBE = Statement(
    """
    INSERT INTO push_subscription (entry_id, endpoint, p256dh, auth)
    VALUES (:entry_id, :endpoint, :p256dh, :auth)
    ON CONFLICT (entry_id) DO UPDATE
    SET endpoint = excluded.endpoint, p256dh = excluded.p256dh, auth = excluded.auth
    """
)
_KEYS = Statement("SELECT endpoint, p256dh, auth FROM push_subscription WHERE entry_id = :entry_id")


async def subscribe(
    *, connection: AsyncConnection, entry_id: uuid.UUID, endpoint: str, p256dh: str, auth: str
) -> None:
    params = {"entry_id": str(entry_id), "endpoint": endpoint, "p256dh": p256dh, "auth": auth}
    await connection.execute(_SUBSCRIBE.on(connection), params)


async def subscription(*, connection: AsyncConnection, entry_id: uuid.UUID) -> tuple[str, str, str] | None:
    """(endpoint, p256dh, auth) of the entry's subscription, or None."""
    row = (await connection.execute(_KEYS.on(connection), {"entry_id": str(entry_id)})).first()
    return None if row is None else (str(row.endpoint), str(row.p256dh), str(row.auth))
