"""Staff accounts, their sessions and the login throttle: every statement about them, by name.

Each function takes an open connection; the service that calls it owns the transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain import (
    Restaurant,
    StaffExists,
    StaffMember,
    StaffSession,
)
from waitline.store.statement import Statement
from waitline.store.values import moment

_STAFF_COLUMNS = "id, restaurant_id, email, role"

_INSERT_STAFF = Statement(
    f"""
    INSERT INTO staff_user (id, restaurant_id, email, password_hash, role)
    VALUES (:id, :restaurant_id, :email, :password_hash, :role)
    ON CONFLICT (restaurant_id, email) DO NOTHING
    RETURNING {_STAFF_COLUMNS}
    """
)
_UPSERT_STAFF = Statement(
    f"""
    INSERT INTO staff_user (id, restaurant_id, email, password_hash, role)
    VALUES (:id, :restaurant_id, :email, :password_hash, :role)
    ON CONFLICT (restaurant_id, email) DO UPDATE SET password_hash = excluded.password_hash, revoked_at = NULL
    RETURNING {_STAFF_COLUMNS}
    """
)
_STAFF_CREDENTIALS = Statement(
    f"""
    SELECT {_STAFF_COLUMNS}, password_hash FROM staff_user
    WHERE restaurant_id = :restaurant_id AND email = :email AND revoked_at IS NULL
    """
)
_SET_PASSWORD_HASH = Statement("UPDATE staff_user SET password_hash = :password_hash WHERE id = :id")


async def create_staff(
    *,
    connection: AsyncConnection,
    restaurant_id: uuid.UUID,
    email: str,
    password_hash: str,
    reset_existing: bool = False,
    role: str = "host",
) -> StaffMember:
    """A new account; with ``reset_existing`` an account with this email gets the new password instead."""
    params = {
        "id": str(uuid.uuid4()),
        "restaurant_id": str(restaurant_id),
        "email": email,
        "password_hash": password_hash,
        "role": role,
    }
    statement = _UPSERT_STAFF if reset_existing else _INSERT_STAFF
    row = (await connection.execute(statement.on(connection), params)).mappings().first()
    if row is None:
        raise StaffExists()
    return StaffMember.from_row(row)


async def staff_credentials(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, email: str
) -> tuple[StaffMember, str] | None:
    """The account and its password hash, or None when this email has none here."""
    params = {"restaurant_id": str(restaurant_id), "email": email}
    row = (await connection.execute(_STAFF_CREDENTIALS.on(connection), params)).mappings().first()
    return None if row is None else (StaffMember.from_row(row), row["password_hash"])


async def set_password_hash(*, connection: AsyncConnection, staff_id: uuid.UUID, password_hash: str) -> None:
    params = {"id": str(staff_id), "password_hash": password_hash}
    await connection.execute(_SET_PASSWORD_HASH.on(connection), params)


# --- the login throttle -----------------------------------------------------------------------------------

# --- sessions ---------------------------------------------------------------------------------------------

_INSERT_SESSION = Statement(
    """
    INSERT INTO staff_session (token_hash, staff_id, expires_at)
    VALUES (:token_hash, :staff_id, :expires_at)
    """
)
_SESSION = Statement(
    """
    SELECT u.id AS staff_id, u.email, u.role, r.id, r.slug, r.name, r.queue_open, r.default_region,
        r.created_at, r.organisation_id, r.time_zone, r.default_language
    FROM staff_session s
    JOIN staff_user u ON u.id = s.staff_id
    JOIN restaurant r ON r.id = u.restaurant_id
    WHERE s.token_hash = :token_hash AND s.expires_at > :now AND u.revoked_at IS NULL
    """
)
_DELETE_SESSION = Statement("DELETE FROM staff_session WHERE token_hash = :token_hash")
_DELETE_EXPIRED_SESSIONS = Statement(
    "DELETE FROM staff_session WHERE staff_id = :staff_id AND expires_at <= :now"
)


async def create_session(
    *, connection: AsyncConnection, token_hash: str, staff_id: uuid.UUID, expires_at: datetime
) -> None:
    params = {
        "token_hash": token_hash,
        "staff_id": str(staff_id),
        "expires_at": moment(connection, expires_at),
    }
    await connection.execute(_INSERT_SESSION.on(connection), params)


async def session(*, connection: AsyncConnection, token_hash: str, now: datetime) -> StaffSession | None:
    params = {"token_hash": token_hash, "now": moment(connection, now)}
    row = (await connection.execute(_SESSION.on(connection), params)).mappings().first()
    if row is None:
        return None
    restaurant = Restaurant.from_row(row)
    staff = StaffMember.from_row(
        {"id": row["staff_id"], "restaurant_id": row["id"], "email": row["email"], "role": row["role"]}
    )
    return StaffSession(staff=staff, restaurant=restaurant)


async def delete_session(*, connection: AsyncConnection, token_hash: str) -> None:
    await connection.execute(_DELETE_SESSION.on(connection), {"token_hash": token_hash})


async def delete_expired_sessions(*, connection: AsyncConnection, staff_id: uuid.UUID, now: datetime) -> None:
    params = {"staff_id": str(staff_id), "now": moment(connection, now)}
    await connection.execute(_DELETE_EXPIRED_SESSIONS.on(connection), params)
