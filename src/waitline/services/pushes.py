"""Web push opt-in: the VAPID public key the status page subscribes with, and the guest's subscription."""

from __future__ import annotations

import uuid

from waitline.domain import Status
from waitline.push import VAPID_SECRET, Subscription, new_private_key, public_key
from waitline.store import entries, pushes, secrets
from waitline.store.engine import Database


class Pushes:
    def __init__(self, *, database: Database) -> None:
        self._database = database
        self._private_key: str | None = None

    async def private_key(self) -> str:
        """The VAPID private key: made by the first instance that needs it, kept in server_secret."""
        if self._private_key is None:
            async with self._database.transaction() as connection:
                self._private_key = await secrets.server_secret(
                    connection=connection, name=VAPID_SECRET, new_value=new_private_key()
                )
        return self._private_key

    async def public_key(self) -> str:
        return public_key(await self.private_key())

    async def subscribe(self, *, slug: str, entry_id: uuid.UUID, subscription: Subscription) -> bool:
        """Keep the subscription of a guest still in the queue (False: the entry is not waiting or called)."""
        async with self._database.transaction() as connection:
            entry = await entries.get_entry_by_slug(connection=connection, slug=slug, entry_id=entry_id)
            if entry.status not in (Status.WAITING, Status.CALLED):
                return False
            await pushes.subscribe(
                connection=connection,
                entry_id=entry_id,
                endpoint=subscription.endpoint,
                p256dh=subscription.p256dh,
                auth=subscription.auth,
            )
        return True
