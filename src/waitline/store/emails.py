"""The email address a guest gave with a join (``guest_email``, migration 0010).

Written in the join's transaction, after the entry: the "joined" text the join's event put in the outbox
gets its email twin here (later messages get theirs from the trigger outbox_email_twin as they are written).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.store.statement import Statement

_ATTACH = Statement("INSERT INTO guest_email (entry_id, email) VALUES (:entry_id, :email)")
_JOINED_TWIN = Statement(
    """
    INSERT INTO outbox (restaurant_id, entry_id, event_seq, kind, channel, recipient, position, due_at)
    SELECT o.restaurant_id, o.entry_id, o.event_seq, o.kind, 'email', :email, o.position, o.due_at
    FROM outbox o
    WHERE o.entry_id = :entry_id AND o.channel = 'sms' AND o.kind = 'joined'
    """
)


async def attach(*, connection: AsyncConnection, entry_id: uuid.UUID, email: str) -> None:
    """Keep the address of a party that has just joined, and email it the "joined" message too."""
    params = {"entry_id": str(entry_id), "email": email}
    await connection.execute(_ATTACH.on(connection), params)
    await connection.execute(_JOINED_TWIN.on(connection), params)
