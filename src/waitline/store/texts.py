"""A restaurant's own message texts (per message, channel and language), and which messages it switched off
(per message and channel)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.store.statement import Statement

_SWITCHES = Statement("SELECT kind, channel, enabled FROM message_text WHERE restaurant_id = :restaurant_id")
_WORDING = Statement(
    """
    SELECT kind, channel, body FROM message_wording
    WHERE restaurant_id = :restaurant_id AND language = :language
    """
)
# The same upserts on both databases (SQLite has taken ON CONFLICT ... DO UPDATE since 3.24).
_SWITCH = Statement(
    """
    INSERT INTO message_text (restaurant_id, kind, channel, enabled)
    VALUES (:restaurant_id, :kind, :channel, :enabled)
    ON CONFLICT (restaurant_id, kind, channel) DO UPDATE SET enabled = excluded.enabled
    """
)
_WORD = Statement(
    """
    INSERT INTO message_wording (restaurant_id, kind, channel, language, body)
    VALUES (:restaurant_id, :kind, :channel, :language, :body)
    ON CONFLICT (restaurant_id, kind, channel, language) DO UPDATE SET body = excluded.body
    """
)
_UNWORD = Statement(
    """
    DELETE FROM message_wording
    WHERE restaurant_id = :restaurant_id AND kind = :kind AND channel = :channel AND language = :language
    """
)


@dataclass(frozen=True)
class OwnTexts:
    """A restaurant's texts in one language, and its switches: (kind, channel) -> text / on."""

    bodies: dict[tuple[str, str], str]
    enabled: dict[tuple[str, str], bool]


async def texts(*, connection: AsyncConnection, restaurant_id: uuid.UUID, language: str) -> OwnTexts:
    params = {"restaurant_id": str(restaurant_id), "language": language}
    bodies = await connection.execute(_WORDING.on(connection), params)
    switches = await connection.execute(_SWITCHES.on(connection), params)
    return OwnTexts(
        bodies={(row.kind, row.channel): row.body for row in bodies},
        enabled={(row.kind, row.channel): bool(row.enabled) for row in switches},
    )


async def save(
    *,
    connection: AsyncConnection,
    restaurant_id: uuid.UUID,
    kind: str,
    channel: str,
    language: str,
    body: str | None,
    enabled: bool,
) -> None:
    """The switch of (kind, channel), and its text in ``language`` (None: back to that language's default)."""
    params = {
        "restaurant_id": str(restaurant_id),
        "kind": kind,
        "channel": channel,
        "language": language,
        "body": body,
        "enabled": enabled,
    }
    await connection.execute(_SWITCH.on(connection), params)
    await connection.execute((_UNWORD if body is None else _WORD).on(connection), params)
