"""Owners (signing up, signing in) and the one decision of who may do what, at which location.

``authorise`` is where every staff, admin and API request is decided: it turns the caller's credentials (a
staff session, an owner session, a bearer token) into principals, works out their role at the location in
the path (``domain.access.role_at``) and checks it against the policy table (``domain.access.GRANTS``).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline import auth
from waitline.domain import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    Action,
    Actor,
    LoginFailed,
    NotAuthenticated,
    NotPermitted,
    PasswordUnacceptable,
    Principal,
    PrincipalKind,
    Restaurant,
    Role,
    normalise_email,
    permits,
    role_at,
)
from waitline.services import sign_in
from waitline.store import login_throttle, owners, restaurants, staff, tokens
from waitline.store.engine import Database

_RANK = {Role.HOST: 1, Role.MANAGER: 2, Role.OWNER: 3}


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Credentials:
    """What a request carried: the staff and owner session cookies' secrets, a bearer token."""

    staff_secret: str | None = None
    owner_secret: str | None = None
    bearer: str | None = None


@dataclass(frozen=True)
class Grant:
    """A request let through: who (None for open actions), at which location (None for organisation-level
    actions), with which role there."""

    principal: Principal | None
    restaurant: Restaurant | None
    role: Role | None

    @property
    def actor(self) -> Actor:
        principal = self.principal
        assert principal is not None, "an open action has no actor"
        if principal.kind is PrincipalKind.OWNER:
            return Actor.owner(principal.id)
        if principal.kind is PrincipalKind.API_TOKEN:
            return Actor.api_token(principal.id)
        return Actor.staff(principal.id)


class Access:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    async def create_owner(self, *, email: str, password: str, organisation: str) -> Principal:
        """A new organisation and its first owner."""
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            raise PasswordUnacceptable()
        password_hash = await asyncio.to_thread(auth.hash_password, password)
        async with self._database.transaction() as connection:
            organisation_id = await owners.create_organisation(connection=connection, name=organisation)
            return await owners.create_owner(
                connection=connection,
                organisation_id=organisation_id,
                email=normalise_email(email),
                password_hash=password_hash,
            )

    async def owner_log_in(
        self,
        *,
        email: str,
        password: str,
        client: str,
        session_lifetime: timedelta,
        now: datetime | None = None,
    ) -> str:
        """A new owner session secret once email and password match; LoginFailed otherwise (same work).

        Attempts are counted per email and ``client`` (the address as the per-address limits count it)
        before the password is checked, as staff sign-ins are (services/lockout.py): LoginThrottled while
        that address is locked out of that account. A stranger's guesses lock out the stranger's address,
        never the owner signing in from another.
        """
        now = now or _utcnow()
        email = normalise_email(email)
        key = {"email": email, "client": client}
        async with self._database.transaction() as connection:
            await sign_in.count_attempt(
                connection=connection, throttle=login_throttle.OWNERS, key=key, now=now
            )
            credentials = await owners.owner_credentials(connection=connection, email=email)

        def check() -> bool:
            if credentials is None:
                auth.verify_password(auth.unknown_user_hash(), password)
                return False
            return auth.verify_password(credentials[1], password)

        if not await asyncio.to_thread(check) or credentials is None:
            raise LoginFailed()
        secret = auth.new_session_secret()
        async with self._database.transaction() as connection:
            await sign_in.succeeded(connection=connection, throttle=login_throttle.OWNERS, key=key)
            await owners.create_session(
                connection=connection,
                token_hash=auth.token_hash(secret),
                owner_id=credentials[0].id,
                expires_at=now + session_lifetime,
                now=now,
            )
        return secret

    async def owner_log_out(self, *, secret: str) -> None:
        async with self._database.transaction() as connection:
            await owners.delete_session(connection=connection, token_hash=auth.token_hash(secret))

    async def authorise(
        self,
        *,
        action: Action,
        credentials: Credentials,
        slug: str | None = None,
        restaurant_id: uuid.UUID | None = None,
        now: datetime | None = None,
    ) -> Grant:
        """The caller's grant for ``action`` at the location named by ``slug`` or ``restaurant_id`` (or at
        the organisation level, with neither). Raises NotAuthenticated (no valid credentials), NotPermitted
        (valid, but not enough here) or RestaurantNotFound."""
        if permits(None, action):
            return Grant(principal=None, restaurant=None, role=None)
        now = now or _utcnow()
        async with self._database.snapshot() as connection:
            principals = await self._principals(connection, credentials, now)
            if not principals:
                raise NotAuthenticated()
            restaurant = None
            if slug is not None:
                restaurant = await restaurants.get_restaurant_by_slug(connection=connection, slug=slug)
            elif restaurant_id is not None and any(p.kind is not PrincipalKind.API_TOKEN for p in principals):
                restaurant = await restaurants.get_restaurant(
                    connection=connection, restaurant_id=restaurant_id
                )
        best: tuple[Principal, Role] | None = None
        for principal in principals:
            if restaurant is None and restaurant_id is None:
                role = Role.OWNER if principal.kind is PrincipalKind.OWNER else None
            elif restaurant is None:  # a bearer token against the id in the path
                role = principal.role if principal.restaurant_id == restaurant_id else None
            else:
                role = role_at(
                    principal, restaurant_id=restaurant.id, organisation_id=restaurant.organisation_id
                )
            if role is not None and (best is None or _RANK[role] > _RANK[best[1]]):
                best = (principal, role)
        if best is None:
            if any(p.kind is PrincipalKind.STAFF for p in principals):
                raise NotPermitted("You are signed in for another restaurant.")
            if all(p.kind is PrincipalKind.API_TOKEN for p in principals):
                raise NotPermitted()  # "This staff token belongs to another restaurant."
            raise NotPermitted("You have no access to this location.")
        if not permits(best[1], action):
            raise NotPermitted(f"As a {best[1].value} here, you cannot do this: ask a manager or the owner.")
        return Grant(principal=best[0], restaurant=restaurant, role=best[1])

    @staticmethod
    async def _principals(
        connection: AsyncConnection, credentials: Credentials, now: datetime
    ) -> list[Principal]:
        found: list[Principal] = []
        if credentials.bearer:
            token = await tokens.token_by_hash(
                connection=connection, token_hash=auth.token_hash(credentials.bearer)
            )
            if token is not None:
                found.append(
                    Principal(
                        kind=PrincipalKind.API_TOKEN,
                        id=token.id,
                        email=None,
                        organisation_id=None,
                        restaurant_id=token.restaurant_id,
                        role=Role.HOST,
                    )
                )
        if credentials.staff_secret:
            session = await staff.session(
                connection=connection, token_hash=auth.token_hash(credentials.staff_secret), now=now
            )
            if session is not None:
                found.append(
                    Principal(
                        kind=PrincipalKind.STAFF,
                        id=session.staff.id,
                        email=session.staff.email,
                        organisation_id=session.restaurant.organisation_id,
                        restaurant_id=session.restaurant.id,
                        role=Role(session.staff.role),
                    )
                )
        if credentials.owner_secret:
            owner = await owners.session(
                connection=connection, token_hash=auth.token_hash(credentials.owner_secret), now=now
            )
            if owner is not None:
                found.append(owner)
        return found
