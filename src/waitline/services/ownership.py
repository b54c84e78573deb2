"""An organisation's owners: an owner invites another with a one-time link, and removes one, as long as one
remains (LastOwner otherwise). Each action is recorded in the audit trail, in its own transaction."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from waitline import auth
from waitline.domain import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    InviteInvalid,
    LastOwner,
    PasswordUnacceptable,
    Principal,
    normalise_email,
)
from waitline.services.access import Grant
from waitline.services.admin import INVITE_LIFETIME, Invitation
from waitline.store import admin, owners, ownership
from waitline.store.engine import Database


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _organisation(grant: Grant) -> uuid.UUID:
    principal = grant.principal
    assert principal is not None and principal.organisation_id is not None
    return principal.organisation_id


def _actor(grant: Grant) -> str:
    assert grant.principal is not None
    return f"owner {grant.principal.email or grant.principal.id}"


async def _record(
    connection: Any,
    organisation_id: uuid.UUID,
    actor: str,
    action: str,
    *,
    before: dict[str, str] | None = None,
    after: dict[str, str] | None = None,
) -> None:
    """In the audit trail, at the organisation's level (no location)."""
    await admin.record(
        connection=connection,
        organisation_id=organisation_id,
        restaurant_id=None,
        actor=actor,
        action=action,
        before=before,
        after=after,
    )


class Ownership:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    async def owners(self, grant: Grant) -> list[tuple[uuid.UUID, str]]:
        async with self._database.snapshot() as connection:
            return await ownership.owners(connection=connection, organisation_id=_organisation(grant))

    async def invite(self, grant: Grant, *, email: str, now: datetime | None = None) -> str:
        """A one-time invitation secret for the link (only its hash is stored); expires after three days."""
        secret = auth.new_token()
        email = normalise_email(email)
        organisation_id = _organisation(grant)
        async with self._database.transaction() as connection:
            await ownership.create_invite(
                connection=connection,
                token_hash=auth.token_hash(secret),
                organisation_id=organisation_id,
                email=email,
                expires_at=(now or _utcnow()) + INVITE_LIFETIME,
            )
            await _record(connection, organisation_id, _actor(grant), "owner.invite", after={"email": email})
        return secret

    async def invitation(self, secret: str, *, now: datetime | None = None) -> Invitation:
        async with self._database.snapshot() as connection:
            row = await ownership.invite(
                connection=connection, token_hash=auth.token_hash(secret), now=now or _utcnow()
            )
        if row is None:
            raise InviteInvalid()
        return Invitation(email=row["email"], role="owner", slug="", name=row["name"])

    async def accept(self, secret: str, *, password: str, now: datetime | None = None) -> Principal:
        """The invited owner, created with the chosen password; the link is spent in the same transaction.
        OwnerExists if the email is an owner's already (of any organisation: an email signs in to one)."""
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            raise PasswordUnacceptable()
        password_hash = await asyncio.to_thread(auth.hash_password, password)
        async with self._database.transaction() as connection:
            taken = await ownership.take_invite(
                connection=connection, token_hash=auth.token_hash(secret), now=now or _utcnow()
            )
            if taken is None:
                raise InviteInvalid()
            organisation_id, email = taken
            owner = await owners.create_owner(
                connection=connection,
                organisation_id=organisation_id,
                email=email,
                password_hash=password_hash,
            )
            await _record(
                connection, organisation_id, f"owner {email}", "owner.accept", after={"email": email}
            )
            return owner

    async def revoke(self, grant: Grant, *, owner_id: uuid.UUID, now: datetime | None = None) -> str | None:
        """The email of the owner removed (their sessions end at once); None if no such owner here.
        LastOwner if they are the organisation's only one."""
        organisation_id = _organisation(grant)
        async with self._database.transaction() as connection:
            await ownership.lock_organisation(connection=connection, organisation_id=organisation_id)
            current = await ownership.owners(connection=connection, organisation_id=organisation_id)
            if [owner_id] == [found for found, _ in current]:
                raise LastOwner()
            email = await ownership.revoke(
                connection=connection,
                organisation_id=organisation_id,
                owner_id=owner_id,
                now=now or _utcnow(),
            )
            if email is not None:
                await _record(
                    connection, organisation_id, _actor(grant), "owner.revoke", before={"email": email}
                )
        return email
