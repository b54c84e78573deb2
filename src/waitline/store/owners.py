"""Organisations, their owners and the owners' sessions: every statement about them, by name."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain import OwnerExists, Principal, PrincipalKind, Role
from waitline.domain.rows import as_uuid
from waitline.store.statement import Statement
from waitline.store.values import moment

_INSERT_ORGANISATION = Statement("INSERT INTO organisation (id, name) VALUES (:id, :name)")
_INSERT_OWNER = Statement(
    """
    INSERT INTO organisation_owner (id, organisation_id, email, password_hash)
    VALUES (:id, :organisation_id, :email, :password_hash)
    ON CONFLICT (email) DO NOTHING
    RETURNING id
    """
)
_OWNER_CREDENTIALS = Statement(
    """
    SELECT id, organisation_id, email, password_hash FROM organisation_owner
    WHERE email = :email AND revoked_at IS NULL
    """
)
_SET_PASSWORD_HASH = Statement("UPDATE organisation_owner SET password_hash = :password_hash WHERE id = :id")
_INSERT_SESSION = Statement(
    """
    INSERT INTO owner_session (token_hash, owner_id, expires_at)
    VALUES (:token_hash, :owner_id, :expires_at)
    """
)
_SESSION = Statement(
    """
    SELECT o.id, o.organisation_id, o.email FROM owner_session s
    JOIN organisation_owner o ON o.id = s.owner_id
    WHERE s.token_hash = :token_hash AND s.expires_at > :now AND o.revoked_at IS NULL
    """
)
_DELETE_SESSION = Statement("DELETE FROM owner_session WHERE token_hash = :token_hash")
_DELETE_EXPIRED_SESSIONS = Statement(
    "DELETE FROM owner_session WHERE owner_id = :owner_id AND expires_at <= :now"
)


def _principal(mapping: Mapping[Any, Any]) -> Principal:
    return Principal(
        kind=PrincipalKind.OWNER,
        id=as_uuid(mapping["id"]),
        email=str(mapping["email"]),
        organisation_id=as_uuid(mapping["organisation_id"]),
        restaurant_id=None,
        role=Role.OWNER,
    )


async def create_organisation(*, connection: AsyncConnection, name: str) -> uuid.UUID:
    organisation_id = uuid.uuid4()
    await connection.execute(_INSERT_ORGANISATION.on(connection), {"id": str(organisation_id), "name": name})
    return organisation_id


async def create_owner(
    *, connection: AsyncConnection, organisation_id: uuid.UUID, email: str, password_hash: str
) -> Principal:
    params = {
        "id": str(uuid.uuid4()),
        "organisation_id": str(organisation_id),
        "email": email,
        "password_hash": password_hash,
    }
    if (await connection.execute(_INSERT_OWNER.on(connection), params)).first() is None:
        raise OwnerExists()
    return _principal(params)


async def owner_credentials(*, connection: AsyncConnection, email: str) -> tuple[Principal, str] | None:
    row = (await connection.execute(_OWNER_CREDENTIALS.on(connection), {"email": email})).mappings().first()
    return None if row is None else (_principal(row), row["password_hash"])


async def set_password_hash(*, connection: AsyncConnection, owner_id: uuid.UUID, password_hash: str) -> None:
    params = {"id": str(owner_id), "password_hash": password_hash}
    await connection.execute(_SET_PASSWORD_HASH.on(connection), params)


async def create_session(
    *, connection: AsyncConnection, token_hash: str, owner_id: uuid.UUID, expires_at: datetime, now: datetime
) -> None:
    await connection.execute(
        _DELETE_EXPIRED_SESSIONS.on(connection), {"owner_id": str(owner_id), "now": moment(connection, now)}
    )
    params = {
        "token_hash": token_hash,
        "owner_id": str(owner_id),
        "expires_at": moment(connection, expires_at),
    }
    await connection.execute(_INSERT_SESSION.on(connection), params)


async def session(*, connection: AsyncConnection, token_hash: str, now: datetime) -> Principal | None:
    params = {"token_hash": token_hash, "now": moment(connection, now)}
    row = (await connection.execute(_SESSION.on(connection), params)).mappings().first()
    return None if row is None else _principal(row)


async def delete_session(*, connection: AsyncConnection, token_hash: str) -> None:
    await connection.execute(_DELETE_SESSION.on(connection), {"token_hash": token_hash})
