"""The language a guest joined in (``guest_language``, migration 0011): their messages are written in it.

Written in the join's transaction, after the entry, only when the guest chose one (the join page's switch or
their browser's Accept-Language, or the API's ``language``); an entry without one reads its location's
default language when a message is sent.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.store.statement import Statement

_ATTACH = Statement("INSERT INTO guest_language (entry_id, language) VALUES (:entry_id, :language)")


async def attach(*, connection: AsyncConnection, entry_id: uuid.UUID, language: str) -> None:
    await connection.execute(_ATTACH.on(connection), {"entry_id": str(entry_id), "language": language})
