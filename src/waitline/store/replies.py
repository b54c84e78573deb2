"""What a guest's text reply and Twilio's delivery callbacks read and change: who the number is, at which
restaurant, whether it opted out, and each message's delivery state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.store.statement import Statement

# The restaurant a reply comes from: the one that texted this number last (one Twilio number serves all).
_LAST_RESTAURANT = Statement(
    """
    SELECT restaurant_id FROM outbox
    WHERE recipient = :mobile AND channel = 'sms' AND state IN ('sent', 'delivered', 'failed')
    ORDER BY id DESC LIMIT 1
    """
)
_ACTIVE_ENTRY = Statement(
    """
    SELECT id, token_number FROM queue_entry
    WHERE restaurant_id = :restaurant_id AND mobile = :mobile AND status IN ('waiting', 'called')
    ORDER BY token_number DESC LIMIT 1
    """
)
_OPT_OUT_POSTGRESQL = Statement(
    "INSERT INTO sms_opt_out (restaurant_id, mobile) VALUES (:restaurant_id, :mobile) ON CONFLICT DO NOTHING"
)
_OPT_OUT_SQLITE = Statement(
    "INSERT OR IGNORE INTO sms_opt_out (restaurant_id, mobile) VALUES (:restaurant_id, :mobile)"
)
_OPT_IN = Statement("DELETE FROM sms_opt_out WHERE restaurant_id = :restaurant_id AND mobile = :mobile")
# Twilio's states: queued, sending, sent -> nothing to change; delivered; undelivered, failed -> failed. A
# callback never takes a message back (a late "sent" after "delivered" changes nothing).
_DELIVERED = Statement(
    "UPDATE outbox SET state = 'delivered' WHERE provider_id = :provider_id AND state = 'sent' RETURNING kind"
)
_UNDELIVERED = Statement(
    """
    UPDATE outbox SET state = 'failed', reason = :reason
    WHERE provider_id = :provider_id AND state IN ('sent', 'delivered')
    RETURNING kind
    """
)


@dataclass(frozen=True)
class Sender:
    restaurant_id: uuid.UUID
    entry_id: uuid.UUID | None
    token_number: int | None


async def sender(*, connection: AsyncConnection, mobile: str) -> Sender | None:
    """The restaurant that texted ``mobile`` last and the number's active entry there; None if none did."""
    restaurant_id = (
        await connection.execute(_LAST_RESTAURANT.on(connection), {"mobile": mobile})
    ).scalar_one_or_none()
    if restaurant_id is None:
        return None
    params = {"restaurant_id": str(restaurant_id), "mobile": mobile}
    row = (await connection.execute(_ACTIVE_ENTRY.on(connection), params)).first()
    return Sender(
        restaurant_id=uuid.UUID(str(restaurant_id)),
        entry_id=None if row is None else uuid.UUID(str(row.id)),
        token_number=None if row is None else int(row.token_number),
    )


async def set_opted_out(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, mobile: str, out: bool
) -> None:
    params = {"restaurant_id": str(restaurant_id), "mobile": mobile}
    if not out:
        statement = _OPT_IN
    elif connection.dialect.name == "postgresql":
        statement = _OPT_OUT_POSTGRESQL
    else:
        statement = _OPT_OUT_SQLITE
    await connection.execute(statement.on(connection), params)


async def delivery_state(
    *, connection: AsyncConnection, provider_id: str, delivered: bool, reason: str | None
) -> str | None:
    """Record Twilio's final word on a message; its kind if a message changed, else None."""
    if delivered:
        result = await connection.execute(_DELIVERED.on(connection), {"provider_id": provider_id})
    else:
        params = {"provider_id": provider_id, "reason": reason}
        result = await connection.execute(_UNDELIVERED.on(connection), params)
    value = result.scalar_one_or_none()
    return None if value is None else str(value)
