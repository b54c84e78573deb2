"""An organisation's owners: who they are, invitations to become one, and removing one. Every statement
about them by name; the service that calls each owns the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain.rows import as_uuid
from waitline.store.statement import Statement
from waitline.store.values import moment

_OWNERS = Statement(
    """
    SELECT id, email FROM organisation_owner
    WHERE organisation_id = :organisation_id AND revoked_at IS NULL
    ORDER BY email
    """
)
# Removing an owner counts the others first: the organisation's row, locked, orders two owners removing
# each other at once (on SQLite, BEGIN IMMEDIATE does), so that one of them always remains.
_LOCK_ORGANISATION = Statement("SELECT id FROM organisation WHERE id = :organisation_id {for_update}")
_REVOKE = Statement(
    """
    UPDATE organisation_owner SET revoked_at = :now
    WHERE id = :id AND organisation_id = :organisation_id AND revoked_at IS NULL
    RETURNING email
    """
)
_END_SESSIONS = Statement("DELETE FROM owner_session WHERE owner_id = :id")
_INSERT_INVITE = Statement(
    """
    INSERT INTO owner_invite (token_hash, organisation_id, email, expires_at)
    VALUES (:token_hash, :organisation_id, :email, :expires_at)
    """
)
# Used once: the row is taken in the same statement that checks it, so two clicks cannot both succeed.
_TAKE_INVITE = Statement(
    """
    UPDATE owner_invite SET used_at = :now
    WHERE token_hash = :token_hash AND used_at IS NULL AND expires_at > :now
    RETURNING organisation_id, email
    """
)
_INVITE = Statement(
    """
    SELECT i.email, o.name FROM owner_invite i JOIN organisation o ON o.id = i.organisation_id
    WHERE i.token_hash = :token_hash AND i.used_at IS NULL AND i.expires_at > :now
    """
)


async def owners(*, connection: AsyncConnection, organisation_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """The organisation's owners who are not revoked, (id, email) by email."""
    rows = await connection.execute(_OWNERS.on(connection), {"organisation_id": str(organisation_id)})
    return [(as_uuid(row["id"]), row["email"]) for row in rows.mappings()]


async def lock_organisation(*, connection: AsyncConnection, organisation_id: uuid.UUID) -> None:
    await connection.execute(_LOCK_ORGANISATION.on(connection), {"organisation_id": str(organisation_id)})


async def revoke(
    *, connection: AsyncConnection, organisation_id: uuid.UUID, owner_id: uuid.UUID, now: datetime
) -> str | None:
    """The email of the owner revoked, their sessions ended; None if no such owner here."""
    params = {"id": str(owner_id), "organisation_id": str(organisation_id), "now": moment(connection, now)}
    email = (await connection.execute(_REVOKE.on(connection), params)).scalar_one_or_none()
    if email is not None:
        await connection.execute(_END_SESSIONS.on(connection), {"id": str(owner_id)})
    return None if email is None else str(email)


async def create_invite(
    *,
    connection: AsyncConnection,
    token_hash: str,
    organisation_id: uuid.UUID,
    email: str,
    expires_at: datetime,
) -> None:
    params = {
        "token_hash": token_hash,
        "organisation_id": str(organisation_id),
        "email": email,
        "expires_at": moment(connection, expires_at),
    }
    await connection.execute(_INSERT_INVITE.on(connection), params)


async def invite(*, connection: AsyncConnection, token_hash: str, now: datetime) -> Mapping[Any, Any] | None:
    params = {"token_hash": token_hash, "now": moment(connection, now)}
    return (await connection.execute(_INVITE.on(connection), params)).mappings().first()


async def take_invite(
    *, connection: AsyncConnection, token_hash: str, now: datetime
) -> tuple[uuid.UUID, str] | None:
    params = {"token_hash": token_hash, "now": moment(connection, now)}
    row = (await connection.execute(_TAKE_INVITE.on(connection), params)).mappings().first()
    return None if row is None else (as_uuid(row["organisation_id"]), row["email"])
