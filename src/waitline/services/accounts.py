"""Who may act: staff logins and their sessions, sign-in throttling, and staff API tokens."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from waitline import auth
from waitline.domain import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    LoginFailed,
    NotPermitted,
    PasswordUnacceptable,
    Role,
    StaffMember,
    normalise_email,
)
from waitline.ratelimit import LimitCheck, RatePolicy
from waitline.services import sign_in
from waitline.store import limits, login_throttle, restaurants, secrets, staff, tokens
from waitline.store.engine import Database


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Accounts:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    # --- staff API tokens ---------------------------------------------------------------------------------

    async def create_api_token(self, *, slug: str) -> str:
        """A new staff token for the restaurant; the secret is returned once and never stored."""
        token = auth.new_token()
        async with self._database.transaction() as connection:
            restaurant = await restaurants.get_restaurant_by_slug(connection=connection, slug=slug)
            await tokens.create_api_token(
                connection=connection, restaurant_id=restaurant.id, token_hash=auth.token_hash(token)
            )
        return token

    # --- staff logins -------------------------------------------------------------------------------------

    async def create_staff(
        self,
        *,
        slug: str,
        email: str,
        password: str,
        reset_existing: bool = False,
        role: Role = Role.HOST,
    ) -> StaffMember:
        """A staff login for the restaurant (a host unless ``role`` says manager); with ``reset_existing`` an
        existing one gets the new password."""
        if role is Role.OWNER:
            raise NotPermitted("Owners are made with `waitline owner create`.")
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            raise PasswordUnacceptable()
        password_hash = await asyncio.to_thread(auth.hash_password, password)
        async with self._database.transaction() as connection:
            restaurant = await restaurants.get_restaurant_by_slug(connection=connection, slug=slug)
            return await staff.create_staff(
                connection=connection,
                restaurant_id=restaurant.id,
                email=normalise_email(email),
                password_hash=password_hash,
                reset_existing=reset_existing,
                role=role.value,
            )

    async def count_sign_in_attempt(self, *, policy: RatePolicy | None, client_ip: str, now: float) -> None:
        """Count a sign-in attempt from this address before any password is hashed; RateLimited past it.

        The per-account throttle in ``log_in`` protects one account; this keeps one client from spending the
        server's CPU on argon2id hashes across many made-up accounts.
        """
        if policy is None:
            return
        async with self._database.single_statement() as connection:
            await limits.hit_limits(
                connection=connection, checks=[LimitCheck(f"sign-in:{client_ip}", policy)], now=now
            )

    async def log_in(
        self,
        *,
        slug: str,
        email: str,
        password: str,
        client: str,
        session_lifetime: timedelta,
        now: datetime | None = None,
    ) -> str:
        """A new session secret for the cookie, once the email and password match a staff account here.

        Raises LoginFailed (the same for an unknown email as for a wrong password, after the same work) or
        LoginThrottled: attempts are counted per account and ``client`` (the address as the per-address
        limits count it), with an account-wide brake (services/lockout.py). The attempt is counted before
        the password is checked, and the check runs between two short transactions: a hash that takes tens of
        milliseconds must hold neither a row lock nor SQLite's write lock, nor a pooled connection.
        """
        now = now or _utcnow()
        email = normalise_email(email)
        async with self._database.transaction() as connection:
            restaurant = await restaurants.get_restaurant_by_slug(connection=connection, slug=slug)
            key = {"restaurant_id": str(restaurant.id), "email": email, "client": client}
            await sign_in.count_attempt(
                connection=connection, throttle=login_throttle.STAFF, key=key, now=now
            )
            credentials = await staff.staff_credentials(
                connection=connection, restaurant_id=restaurant.id, email=email
            )

        def check() -> tuple[bool, str | None]:
            if credentials is None:
                auth.verify_password(auth.unknown_user_hash(), password)
                return False, None
            password_hash = credentials[1]
            if not auth.verify_password(password_hash, password):
                return False, None
            return True, auth.hash_password(password) if auth.needs_rehash(password_hash) else None

        matched, new_hash = await asyncio.to_thread(check)
        if credentials is None or not matched:
            raise LoginFailed()
        member = credentials[0]
        secret = auth.new_session_secret()
        async with self._database.transaction() as connection:
            await sign_in.succeeded(connection=connection, throttle=login_throttle.STAFF, key=key)
            await staff.delete_expired_sessions(connection=connection, staff_id=member.id, now=now)
            await staff.create_session(
                connection=connection,
                token_hash=auth.token_hash(secret),
                staff_id=member.id,
                expires_at=now + session_lifetime,
            )
            if new_hash is not None:
                await staff.set_password_hash(
                    connection=connection, staff_id=member.id, password_hash=new_hash
                )
        return secret

    async def server_secret(self, *, name: str) -> bytes:
        """256 random bits that every instance sharing this database agrees on (e.g. the CSRF tokens' key)."""
        async with self._database.transaction() as connection:
            value = await secrets.server_secret(
                connection=connection, name=name, new_value=auth.new_session_secret()
            )
        return value.encode()

    async def log_out(self, *, secret: str) -> None:
        async with self._database.transaction() as connection:
            await staff.delete_session(connection=connection, token_hash=auth.token_hash(secret))
