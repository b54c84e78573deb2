"""What the admin pages read and change: an organisation's locations, a location's settings, its staff,
invitations and API tokens, and the audit trail. Every statement by name; the service owns the transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain import Restaurant, StaffMember
from waitline.domain.audit import AuditEntry, audit_hash
from waitline.domain.location import LocationSettings
from waitline.domain.rows import as_uuid, datetime_from_row
from waitline.store.restaurants import RESTAURANT_COLUMNS
from waitline.store.statement import Statement
from waitline.store.values import moment

_LOCATIONS = Statement(
    f"""
    SELECT {RESTAURANT_COLUMNS} FROM restaurant WHERE organisation_id = :organisation_id ORDER BY name, slug
    """
)
SETTINGS_COLUMNS = (
    "name, default_region, time_zone, default_language, max_waiting, max_party_size, opening_hours,"
    " closed_dates, queue_open"
)
_SETTINGS = Statement(f"SELECT {SETTINGS_COLUMNS} FROM restaurant WHERE id = :id")
# Locked while an edit is saved, so that the audit's "before" is what the edit replaced.
_SETTINGS_LOCKED = Statement(f"SELECT {SETTINGS_COLUMNS} FROM restaurant WHERE id = :id {{for_update}}")
_UPDATE_SETTINGS = Statement(
    """
    UPDATE restaurant SET name = :name, default_region = :default_region, time_zone = :time_zone,
        default_language = :default_language, max_waiting = :max_waiting, max_party_size = :max_party_size,
        opening_hours = :opening_hours, closed_dates = :closed_dates
    WHERE id = :id
    """
)
_STAFF = Statement(
    """
    SELECT id, restaurant_id, email, role FROM staff_user
    WHERE restaurant_id = :restaurant_id AND revoked_at IS NULL ORDER BY email
    """
)
_SET_ROLE = Statement(
    """
    UPDATE staff_user SET role = :role
    WHERE id = :id AND restaurant_id = :restaurant_id AND revoked_at IS NULL
    RETURNING id, restaurant_id, email, role
    """
)
_REVOKE_STAFF = Statement(
    """
    UPDATE staff_user SET revoked_at = :now
    WHERE id = :id AND restaurant_id = :restaurant_id AND revoked_at IS NULL
    RETURNING id, restaurant_id, email, role
    """
)
_END_SESSIONS = Statement("DELETE FROM staff_session WHERE staff_id = :staff_id")
_INSERT_INVITE = Statement(
    """
    INSERT INTO staff_invite (token_hash, restaurant_id, email, role, expires_at)
    VALUES (:token_hash, :restaurant_id, :email, :role, :expires_at)
    """
)
# Used once: the row is taken in the same statement that checks it, so two clicks cannot both succeed.
_TAKE_INVITE = Statement(
    """
    UPDATE staff_invite SET used_at = :now
    WHERE token_hash = :token_hash AND used_at IS NULL AND expires_at > :now
    RETURNING restaurant_id, email, role
    """
)
_INVITE = Statement(
    """
    SELECT i.email, i.role, r.slug, r.name FROM staff_invite i JOIN restaurant r ON r.id = i.restaurant_id
    WHERE i.token_hash = :token_hash AND i.used_at IS NULL AND i.expires_at > :now
    """
)
_TOKENS = Statement(
    """
    SELECT id, created_at FROM api_token WHERE restaurant_id = :restaurant_id AND revoked_at IS NULL
    ORDER BY created_at
    """
)
_REVOKE_TOKEN = Statement(
    """
    UPDATE api_token SET revoked_at = :now
    WHERE id = :id AND restaurant_id = :restaurant_id AND revoked_at IS NULL
    RETURNING id
    """
)
# The organisation's audit head, locked: appends are numbered and chained in the order they commit.
_AUDIT_HEAD = Statement(
    "SELECT audit_seq, audit_hash FROM organisation WHERE id = :organisation_id {for_update}"
)
_INSERT_AUDIT = Statement(
    """
    INSERT INTO audit_event (id, organisation_id, restaurant_id, actor, action, before, after, created_at,
                             seq, prev_hash, hash)
    VALUES (:id, :organisation_id, :restaurant_id, :actor, :action, :before, :after, :created_at,
            :seq, :prev_hash, :hash)
    """
)
_ADVANCE_AUDIT_HEAD = Statement(
    "UPDATE organisation SET audit_seq = :seq, audit_hash = :hash WHERE id = :organisation_id"
)
_AUDIT_CHAIN = Statement(
    """
    SELECT organisation_id, seq, restaurant_id, actor, action, before, after, created_at, prev_hash, hash
    FROM audit_event WHERE organisation_id = :organisation_id ORDER BY seq
    """
)
_ORGANISATIONS = Statement("SELECT id, name, audit_seq, audit_hash FROM organisation ORDER BY name, id")
_AUDIT = Statement(
    """
    SELECT a.created_at, a.actor, a.action, a.before, a.after, r.slug
    FROM audit_event a LEFT JOIN restaurant r ON r.id = a.restaurant_id
    WHERE a.organisation_id = :organisation_id
    ORDER BY a.created_at DESC, a.id LIMIT :limit
    """
)


async def locations(*, connection: AsyncConnection, organisation_id: uuid.UUID) -> list[Restaurant]:
    rows = await connection.execute(_LOCATIONS.on(connection), {"organisation_id": str(organisation_id)})
    return [Restaurant.from_row(row) for row in rows.mappings()]


async def settings(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, lock: bool = False
) -> LocationSettings:
    statement = _SETTINGS_LOCKED if lock else _SETTINGS
    row = (await connection.execute(statement.on(connection), {"id": str(restaurant_id)})).mappings().one()
    return LocationSettings.from_row(row)


async def update_settings(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, new: LocationSettings
) -> None:
    await connection.execute(_UPDATE_SETTINGS.on(connection), {"id": str(restaurant_id), **new.columns()})


async def staff(*, connection: AsyncConnection, restaurant_id: uuid.UUID) -> list[StaffMember]:
    rows = await connection.execute(_STAFF.on(connection), {"restaurant_id": str(restaurant_id)})
    return [StaffMember.from_row(row) for row in rows.mappings()]


async def set_role(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, staff_id: uuid.UUID, role: str
) -> StaffMember | None:
    params = {"id": str(staff_id), "restaurant_id": str(restaurant_id), "role": role}
    row = (await connection.execute(_SET_ROLE.on(connection), params)).mappings().first()
    return None if row is None else StaffMember.from_row(row)


async def revoke_staff(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, staff_id: uuid.UUID, now: datetime
) -> StaffMember | None:
    """Revoked, and every session of theirs deleted in the same transaction: signed out at once."""
    params = {"id": str(staff_id), "restaurant_id": str(restaurant_id), "now": moment(connection, now)}
    row = (await connection.execute(_REVOKE_STAFF.on(connection), params)).mappings().first()
    if row is None:
        return None
    await connection.execute(_END_SESSIONS.on(connection), {"staff_id": str(staff_id)})
    return StaffMember.from_row(row)


async def create_invite(
    *,
    connection: AsyncConnection,
    token_hash: str,
    restaurant_id: uuid.UUID,
    email: str,
    role: str,
    expires_at: datetime,
) -> None:
    params = {
        "token_hash": token_hash,
        "restaurant_id": str(restaurant_id),
        "email": email,
        "role": role,
        "expires_at": moment(connection, expires_at),
    }
    await connection.execute(_INSERT_INVITE.on(connection), params)


async def invite(*, connection: AsyncConnection, token_hash: str, now: datetime) -> Mapping[Any, Any] | None:
    params = {"token_hash": token_hash, "now": moment(connection, now)}
    return (await connection.execute(_INVITE.on(connection), params)).mappings().first()


async def take_invite(
    *, connection: AsyncConnection, token_hash: str, now: datetime
) -> tuple[uuid.UUID, str, str] | None:
    params = {"token_hash": token_hash, "now": moment(connection, now)}
    row = (await connection.execute(_TAKE_INVITE.on(connection), params)).mappings().first()
    return None if row is None else (as_uuid(row["restaurant_id"]), row["email"], row["role"])


async def tokens(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID
) -> list[tuple[uuid.UUID, datetime]]:
    rows = await connection.execute(_TOKENS.on(connection), {"restaurant_id": str(restaurant_id)})
    return [(as_uuid(row["id"]), datetime_from_row(row["created_at"])) for row in rows.mappings()]


async def revoke_token(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, token_id: uuid.UUID, now: datetime
) -> bool:
    params = {"id": str(token_id), "restaurant_id": str(restaurant_id), "now": moment(connection, now)}
    return (await connection.execute(_REVOKE_TOKEN.on(connection), params)).first() is not None


async def record(
    *,
    connection: AsyncConnection,
    organisation_id: uuid.UUID,
    restaurant_id: uuid.UUID | None,
    actor: str,
    action: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> None:
    """Append to the organisation's audit trail, chained onto its head (domain/audit.py)."""
    organisation = {"organisation_id": str(organisation_id)}
    head = (await connection.execute(_AUDIT_HEAD.on(connection), organisation)).mappings().one()
    now = datetime.now(UTC)
    at = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as SQLite stores it: milliseconds
    seq, prev_hash = int(head["audit_seq"]) + 1, str(head["audit_hash"])
    before_text = None if before is None else json.dumps(before, sort_keys=True, default=str)
    after_text = None if after is None else json.dumps(after, sort_keys=True, default=str)
    sealed = audit_hash(
        prev_hash,
        organisation_id=organisation_id,
        seq=seq,
        restaurant_id=restaurant_id,
        actor=actor,
        action=action,
        before=before_text,
        after=after_text,
        at=at,
    )
    params = {
        **organisation,
        "id": str(uuid.uuid4()),
        "restaurant_id": None if restaurant_id is None else str(restaurant_id),
        "actor": actor,
        "action": action,
        "before": before_text,
        "after": after_text,
        "created_at": moment(connection, at),
        "seq": seq,
        "prev_hash": prev_hash,
        "hash": sealed,
    }
    await connection.execute(_INSERT_AUDIT.on(connection), params)
    await connection.execute(_ADVANCE_AUDIT_HEAD.on(connection), {**organisation, "seq": seq, "hash": sealed})


async def organisations(*, connection: AsyncConnection) -> list[tuple[uuid.UUID, str, int, str]]:
    """Every organisation: id, name, and its audit head (seq, hash)."""
    rows = (await connection.execute(_ORGANISATIONS.on(connection))).mappings()
    return [(as_uuid(r["id"]), r["name"], int(r["audit_seq"]), r["audit_hash"]) for r in rows]


async def audit_chain(*, connection: AsyncConnection, organisation_id: uuid.UUID) -> list[AuditEntry]:
    rows = await connection.execute(_AUDIT_CHAIN.on(connection), {"organisation_id": str(organisation_id)})
    return [AuditEntry.from_row(row) for row in rows.mappings()]


async def audit(
    *, connection: AsyncConnection, organisation_id: uuid.UUID, limit: int = 500
) -> list[dict[str, Any]]:
    params = {"organisation_id": str(organisation_id), "limit": limit}
    rows = await connection.execute(_AUDIT.on(connection), params)
    return [
        {
            "at": datetime_from_row(row["created_at"]),
            "actor": row["actor"],
            "action": row["action"],
            "before": json.loads(row["before"]) if row["before"] else None,
            "after": json.loads(row["after"]) if row["after"] else None,
            "slug": row["slug"],
        }
        for row in rows.mappings()
    ]
