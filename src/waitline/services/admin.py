"""The admin use cases: locations, their settings, staff (invite, role, revoke) and API tokens; each one
recorded in the audit trail in its own transaction.

Why a table of its own (``audit_event``) rather than ``queue_event``: the queue's log is the gapless,
hash-chained history of one location's queue that live pages, replays and analytics read as queue changes;
admin actions are not queue changes (an invitation, a token, a role), some belong to no location at all
(a new location is an organisation's act), and owners read them across all their locations on one page.
A pause from the settings page goes through the queue's own use case and so is in both.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from waitline import auth
from waitline.domain import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    InviteInvalid,
    NotPermitted,
    PasswordUnacceptable,
    Restaurant,
    Role,
    StaffMember,
    normalise_email,
)
from waitline.domain.audit import AuditVerifier
from waitline.domain.event import ChainBreak
from waitline.domain.location import LocationSettings
from waitline.services.access import Grant
from waitline.store import admin, restaurants, staff, tokens
from waitline.store.engine import Database

INVITE_LIFETIME = timedelta(days=3)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _who(grant: Grant) -> str:
    principal = grant.principal
    assert principal is not None and grant.role is not None
    return f"{grant.role.value} {principal.email or principal.id}"


@dataclass(frozen=True)
class Invitation:
    email: str
    role: str
    slug: str
    name: str


class Admin:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    async def _record(
        self, connection: Any, grant: Grant, action: str, before: Any = None, after: Any = None
    ) -> None:
        restaurant = grant.restaurant
        principal = grant.principal
        assert principal is not None
        organisation_id = restaurant.organisation_id if restaurant is not None else principal.organisation_id
        assert organisation_id is not None
        await admin.record(
            connection=connection,
            organisation_id=organisation_id,
            restaurant_id=restaurant.id if restaurant is not None else None,
            actor=_who(grant),
            action=action,
            before=before,
            after=after,
        )

    # --- the organisation ---------------------------------------------------------------------------------

    async def locations(self, grant: Grant) -> list[Restaurant]:
        assert grant.principal is not None and grant.principal.organisation_id is not None
        async with self._database.snapshot() as connection:
            return await admin.locations(
                connection=connection, organisation_id=grant.principal.organisation_id
            )

    async def create_location(self, grant: Grant, *, slug: str, name: str, region: str | None) -> Restaurant:
        assert grant.principal is not None and grant.principal.organisation_id is not None
        async with self._database.transaction() as connection:
            created = await restaurants.create_restaurant(
                connection=connection,
                slug=slug,
                name=name,
                default_region=region,
                organisation_id=grant.principal.organisation_id,
            )
            await self._record(
                connection, grant, "location.create", after={"slug": slug, "name": name, "country": region}
            )
        return created

    async def audit(self, grant: Grant) -> list[dict[str, Any]]:
        assert grant.principal is not None and grant.principal.organisation_id is not None
        async with self._database.snapshot() as connection:
            return await admin.audit(connection=connection, organisation_id=grant.principal.organisation_id)

    # --- a location's settings ----------------------------------------------------------------------------

    async def settings(self, restaurant_id: uuid.UUID) -> LocationSettings:
        async with self._database.snapshot() as connection:
            return await admin.settings(connection=connection, restaurant_id=restaurant_id)

    async def save_settings(self, grant: Grant, new: LocationSettings) -> LocationSettings:
        """Saved and audited (before and after); a change of ``queue_open`` is left to the queue's own use
        case (it records the queue event), the caller makes it."""
        assert grant.restaurant is not None
        async with self._database.transaction() as connection:
            before = await admin.settings(connection=connection, restaurant_id=grant.restaurant.id, lock=True)
            await admin.update_settings(connection=connection, restaurant_id=grant.restaurant.id, new=new)
            if before.described() != new.described():
                await self._record(
                    connection, grant, "location.settings", before=before.described(), after=new.described()
                )
        return new

    # --- staff ---------------------------------------------------------------------------------------------

    async def staff(self, restaurant_id: uuid.UUID) -> list[StaffMember]:
        async with self._database.snapshot() as connection:
            return await admin.staff(connection=connection, restaurant_id=restaurant_id)

    async def invite(self, grant: Grant, *, email: str, role: Role, now: datetime | None = None) -> str:
        """A one-time invitation secret for the link (only its hash is stored); expires after three days."""
        assert grant.restaurant is not None
        if role is Role.OWNER:
            raise NotPermitted("Owners are made with `waitline owner create`.")
        secret = auth.new_token()
        email = normalise_email(email)
        async with self._database.transaction() as connection:
            await admin.create_invite(
                connection=connection,
                token_hash=auth.token_hash(secret),
                restaurant_id=grant.restaurant.id,
                email=email,
                role=role.value,
                expires_at=(now or _utcnow()) + INVITE_LIFETIME,
            )
            await self._record(connection, grant, "staff.invite", after={"email": email, "role": role.value})
        return secret

    async def invitation(self, secret: str, *, now: datetime | None = None) -> Invitation:
        async with self._database.snapshot() as connection:
            row = await admin.invite(
                connection=connection, token_hash=auth.token_hash(secret), now=now or _utcnow()
            )
        if row is None:
            raise InviteInvalid()
        return Invitation(email=row["email"], role=row["role"], slug=row["slug"], name=row["name"])

    async def accept_invite(self, secret: str, *, password: str, now: datetime | None = None) -> StaffMember:
        """The invited login, created with the chosen password; the link is spent in the same transaction."""
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            raise PasswordUnacceptable()
        password_hash = await asyncio.to_thread(auth.hash_password, password)
        async with self._database.transaction() as connection:
            taken = await admin.take_invite(
                connection=connection, token_hash=auth.token_hash(secret), now=now or _utcnow()
            )
            if taken is None:
                raise InviteInvalid()
            restaurant_id, email, role = taken
            member = await staff.create_staff(
                connection=connection,
                restaurant_id=restaurant_id,
                email=email,
                password_hash=password_hash,
                reset_existing=True,  # invited again (after a revocation, say): a new password, a new role
                role=role,
            )
            changed = await admin.set_role(
                connection=connection, restaurant_id=restaurant_id, staff_id=member.id, role=role
            )
            return changed or member

    async def set_role(self, grant: Grant, *, staff_id: uuid.UUID, role: Role) -> StaffMember | None:
        assert grant.restaurant is not None
        if role is Role.OWNER:
            raise NotPermitted("Owners are made with `waitline owner create`.")
        async with self._database.transaction() as connection:
            members = {
                m.id: m for m in await admin.staff(connection=connection, restaurant_id=grant.restaurant.id)
            }
            changed = await admin.set_role(
                connection=connection, restaurant_id=grant.restaurant.id, staff_id=staff_id, role=role.value
            )
            if changed is not None:
                before = members[staff_id]
                await self._record(
                    connection,
                    grant,
                    "staff.role",
                    before={"email": before.email, "role": before.role},
                    after={"email": changed.email, "role": changed.role},
                )
        return changed

    async def revoke_staff(
        self, grant: Grant, *, staff_id: uuid.UUID, now: datetime | None = None
    ) -> StaffMember | None:
        assert grant.restaurant is not None
        async with self._database.transaction() as connection:
            revoked = await admin.revoke_staff(
                connection=connection,
                restaurant_id=grant.restaurant.id,
                staff_id=staff_id,
                now=now or _utcnow(),
            )
            if revoked is not None:
                await self._record(
                    connection, grant, "staff.revoke", before={"email": revoked.email, "role": revoked.role}
                )
        return revoked

    # --- API tokens ----------------------------------------------------------------------------------------

    async def tokens(self, restaurant_id: uuid.UUID) -> list[tuple[uuid.UUID, datetime]]:
        async with self._database.snapshot() as connection:
            return await admin.tokens(connection=connection, restaurant_id=restaurant_id)

    async def create_token(self, grant: Grant) -> str:
        """The secret, shown once; only its hash is stored."""
        assert grant.restaurant is not None
        secret = auth.new_token()
        async with self._database.transaction() as connection:
            created = await tokens.create_api_token(
                connection=connection, restaurant_id=grant.restaurant.id, token_hash=auth.token_hash(secret)
            )
            await self._record(connection, grant, "token.create", after={"token_id": str(created.id)})
        return secret

    async def revoke_token(self, grant: Grant, *, token_id: uuid.UUID, now: datetime | None = None) -> bool:
        assert grant.restaurant is not None
        async with self._database.transaction() as connection:
            revoked = await admin.revoke_token(
                connection=connection,
                restaurant_id=grant.restaurant.id,
                token_id=token_id,
                now=now or _utcnow(),
            )
            if revoked:
                await self._record(connection, grant, "token.revoke", before={"token_id": str(token_id)})
        return revoked

    # --- the audit trail's chains --------------------------------------------------------------------------

    async def verify_audit(self) -> list[tuple[str, int, ChainBreak | None]]:
        """Every organisation's audit chain walked from seq 1: (name, entries verified, first break or None).
        Each organisation is read in one snapshot, so its head and its entries agree."""
        async with self._database.snapshot() as connection:
            found = await admin.organisations(connection=connection)
        verdicts = []
        for organisation_id, name, _, _ in found:
            async with self._database.snapshot() as connection:
                head = next(
                    o for o in await admin.organisations(connection=connection) if o[0] == organisation_id
                )
                verifier = AuditVerifier()
                for entry in await admin.audit_chain(connection=connection, organisation_id=organisation_id):
                    verifier.feed(entry)
            verdicts.append((name, verifier.checked, verifier.finish(head[2], head[3])))
        return verdicts
