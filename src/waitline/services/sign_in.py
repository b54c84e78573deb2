"""The sign-in throttle applied, for staff and owners alike: count the attempt per account and client
address before the password is checked, lock that address out of that account as services/lockout.py says,
and forget the run once the password matched. Inside the caller's transaction."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from waitline.domain import LoginThrottled
from waitline.services.lockout import LOGIN_BRAKE_WINDOW, LOGIN_FORGET_AFTER, login_lockout
from waitline.store import login_throttle
from waitline.store.login_throttle import Key, Throttle


async def count_attempt(*, connection: Any, throttle: Throttle, key: Key, now: datetime) -> None:
    """Count this attempt; LoginThrottled while this address is locked out of this account."""
    attempt = await login_throttle.reserve_attempt(
        connection=connection, throttle=throttle, key=key, now=now, forget_before=now - LOGIN_FORGET_AFTER
    )
    if isinstance(attempt, datetime):
        raise LoginThrottled(retry_after_seconds=math.ceil((attempt - now).total_seconds()))
    account_failures = await login_throttle.account_failures(
        connection=connection, throttle=throttle, key=key, since=now - LOGIN_BRAKE_WINDOW
    )
    lockout = login_lockout(attempt.number, account_failures=account_failures)
    if lockout is not None:
        # Set before the password is checked, so attempts racing this one are refused meanwhile; a correct
        # password lifts it again (``succeeded``).
        await login_throttle.lock(connection=connection, throttle=throttle, key=key, until=now + lockout)
    if attempt.number == 1:
        await login_throttle.forget_old(
            connection=connection, throttle=throttle, key=key, forget_before=now - LOGIN_FORGET_AFTER
        )


async def succeeded(*, connection: Any, throttle: Throttle, key: Key) -> None:
    await login_throttle.clear(connection=connection, throttle=throttle, key=key)
