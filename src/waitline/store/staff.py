"""Staff accounts, their sessions and the login throttle: every statement about them, by name.

Each function takes an open connection; the service that calls it owns the transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain import (
    LoginAttempt,
    Restaurant,
    StaffExists,
    StaffMember,
    StaffSession,
    datetime_from_row,
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

# Counts the attempt before its password is checked, in one statement, unless the key (an account and one
# client address) is locked out: of many attempts racing in, each gets its own number, and none gets past a
# lock another one has set. (The row lock that the upsert takes on PostgreSQL, and BEGIN IMMEDIATE on SQLite,
# order them.) No row comes back while locked. A run of failures older than :forget_before starts again.
_RESERVE_ATTEMPT = Statement(
    """
    INSERT INTO login_throttle AS t (restaurant_id, email, client, failures, locked_until, last_attempt_at)
    VALUES (:restaurant_id, :email, :client, 1, NULL, :now)
    ON CONFLICT (restaurant_id, email, client) DO UPDATE SET
        failures = CASE WHEN t.last_attempt_at < :forget_before THEN 1 ELSE t.failures + 1 END,
        last_attempt_at = :now
    WHERE t.locked_until IS NULL OR t.locked_until <= :now
    RETURNING failures
    """
)
_KEY = "restaurant_id = :restaurant_id AND email = :email AND client = :client"
_LOCKED_UNTIL = Statement(f"SELECT locked_until FROM login_throttle WHERE {_KEY}")
_LOCK = Statement(f"UPDATE login_throttle SET locked_until = :locked_until WHERE {_KEY}")
_CLEAR_ATTEMPTS = Statement(f"DELETE FROM login_throttle WHERE {_KEY}")
# The account's failures from every address since :since: what the account-wide brake looks at.
_ACCOUNT_FAILURES = Statement(
    """
    SELECT COALESCE(SUM(failures), 0) FROM login_throttle
    WHERE restaurant_id = :restaurant_id AND email = :email AND last_attempt_at >= :since
    """
)
# Keeps the table from growing with guessed emails: runs that ended long ago are forgotten anyway.
_FORGET_OLD_ATTEMPTS = Statement(
    """
    DELETE FROM login_throttle
    WHERE restaurant_id = :restaurant_id AND last_attempt_at < :forget_before
      AND (locked_until IS NULL OR locked_until < :forget_before)
    """
)


def _key(restaurant_id: uuid.UUID, email: str, client: str) -> dict[str, str]:
    return {"restaurant_id": str(restaurant_id), "email": email, "client": client}


async def reserve_login_attempt(
    *,
    connection: AsyncConnection,
    restaurant_id: uuid.UUID,
    email: str,
    client: str,
    now: datetime,
    forget_before: datetime,
) -> LoginAttempt | datetime:
    """The attempt let through (numbered within this client's run for this account), or when its lockout
    ends."""
    params = {
        **_key(restaurant_id, email, client),
        "now": moment(connection, now),
        "forget_before": moment(connection, forget_before),
    }
    failures = (await connection.execute(_RESERVE_ATTEMPT.on(connection), params)).scalar_one_or_none()
    if failures is not None:
        return LoginAttempt(number=int(failures))
    locked_until = (await connection.execute(_LOCKED_UNTIL.on(connection), params)).scalar_one()
    return datetime_from_row(locked_until)


async def account_failures(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, email: str, since: datetime
) -> int:
    """Failed (or unfinished) sign-ins of this account from every address since ``since``."""
    params = {"restaurant_id": str(restaurant_id), "email": email, "since": moment(connection, since)}
    return int((await connection.execute(_ACCOUNT_FAILURES.on(connection), params)).scalar_one())


async def lock_login(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, email: str, client: str, until: datetime
) -> None:
    params = {**_key(restaurant_id, email, client), "locked_until": moment(connection, until)}
    await connection.execute(_LOCK.on(connection), params)


async def clear_login_attempts(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, email: str, client: str
) -> None:
    await connection.execute(_CLEAR_ATTEMPTS.on(connection), _key(restaurant_id, email, client))


async def forget_old_login_attempts(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, forget_before: datetime
) -> None:
    params = {"restaurant_id": str(restaurant_id), "forget_before": moment(connection, forget_before)}
    await connection.execute(_FORGET_OLD_ATTEMPTS.on(connection), params)


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
