"""The hold window after a call: whether the guest confirmed, and which holds ran out where the restaurant
marks no-shows by itself."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain.message import NoticePolicy
from waitline.store.statement import Statement, is_postgresql

_EXPIRED_TEMPLATE = """
    SELECT e.restaurant_id, e.id FROM queue_entry e JOIN restaurant r ON r.id = e.restaurant_id
    WHERE e.status = 'called' AND r.auto_no_show AND e.called_at <= {hold_start}
      AND NOT EXISTS (SELECT 1 FROM queue_event c WHERE c.entry_id = e.id AND c.type = 'confirmed')
    ORDER BY e.called_at
    LIMIT :limit
"""
_EXPIRED_POSTGRESQL = Statement(
    _EXPIRED_TEMPLATE.replace("{hold_start}", "now() - r.hold_minutes * interval '1 minute'")
)
_EXPIRED_SQLITE = Statement(
    _EXPIRED_TEMPLATE.replace(
        "{hold_start}", "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || (r.hold_minutes * 60) || ' seconds')"
    )
)
_HOLD_MINUTES = Statement("SELECT hold_minutes, auto_no_show FROM restaurant WHERE id = :restaurant_id")
_POLICY = Statement(
    "SELECT hold_minutes, auto_no_show, notify_almost_up FROM restaurant WHERE id = :restaurant_id"
)
_SET_POLICY = Statement(
    """
    UPDATE restaurant SET hold_minutes = :hold_minutes, auto_no_show = :auto_no_show,
                          notify_almost_up = :almost_up
    WHERE id = :restaurant_id
    """
)
# What the guest said back since the call, for each entry: confirmed, late, their last free text.
_REPLIES = Statement(
    """
    SELECT entry_id, type, details FROM queue_event
    WHERE entry_id IN :entry_ids AND type IN ('confirmed', 'late', 'replied')
    ORDER BY seq
    """,
    "entry_ids",
)


@dataclass(frozen=True)
class GuestReplies:
    confirmed: bool = False
    late: bool = False
    last_text: str | None = None


async def expired(*, connection: AsyncConnection, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(restaurant id, entry id) of called parties whose hold ran out unconfirmed, where the restaurant marks
    no-shows by itself."""
    statement = _EXPIRED_POSTGRESQL if is_postgresql(connection) else _EXPIRED_SQLITE
    rows = await connection.execute(statement.on(connection), {"limit": limit})
    return [(uuid.UUID(str(row.restaurant_id)), uuid.UUID(str(row.id))) for row in rows]


async def replies(
    *, connection: AsyncConnection, entry_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, GuestReplies]:

    ids = [str(entry_id) for entry_id in entry_ids]
    if not ids:
        return {}
    found: dict[uuid.UUID, GuestReplies] = {}
    for row in await connection.execute(_REPLIES.on(connection), {"entry_ids": ids}):
        entry_id = uuid.UUID(str(row.entry_id))
        current = found.get(entry_id, GuestReplies())
        if row.type == "confirmed":
            current = GuestReplies(True, current.late, current.last_text)
        elif row.type == "late":
            current = GuestReplies(current.confirmed, True, current.last_text)
        else:
            text = json.loads(row.details).get("text") if row.details else None
            current = GuestReplies(current.confirmed, current.late, text)
        found[entry_id] = current
    return found


async def hold_policy(*, connection: AsyncConnection, restaurant_id: uuid.UUID) -> tuple[int, bool]:
    """The restaurant's hold window in minutes, and whether it marks no-shows by itself."""
    row = (
        await connection.execute(_HOLD_MINUTES.on(connection), {"restaurant_id": str(restaurant_id)})
    ).one()
    return int(row.hold_minutes), bool(row.auto_no_show)


async def notice_policy(*, connection: AsyncConnection, restaurant_id: uuid.UUID) -> NoticePolicy:
    row = (await connection.execute(_POLICY.on(connection), {"restaurant_id": str(restaurant_id)})).one()
    return NoticePolicy(int(row.hold_minutes), bool(row.auto_no_show), int(row.notify_almost_up))


async def set_notice_policy(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, policy: NoticePolicy
) -> None:
    params = {
        "restaurant_id": str(restaurant_id),
        "hold_minutes": policy.hold_minutes,
        "auto_no_show": policy.auto_no_show,
        "almost_up": policy.almost_up,
    }
    await connection.execute(_SET_POLICY.on(connection), params)
