"""The sign-in throttle's counts, per account and client address, for staff (``login_throttle``: an account
is an email at a location) and owners (``owner_login_throttle``: an email). The same statements on either
table, by name; services/lockout.py is the policy, services/sign_in.py applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain import LoginAttempt, datetime_from_row
from waitline.store.statement import Statement
from waitline.store.values import moment


class Throttle:
    """The statements of one throttle table, whose account is ``scope`` (columns) plus the email."""

    def __init__(self, table: str, *scope: str) -> None:
        account = [*scope, "email"]
        key = " AND ".join(f"{column} = :{column}" for column in [*account, "client"])
        columns = ", ".join([*account, "client"])
        # Counts the attempt before its password is checked, in one statement, unless the key (an account
        # and one client address) is locked out: of many attempts racing in, each gets its own number, and
        # none gets past a lock another one has set. (The row lock that the upsert takes on PostgreSQL, and
        # BEGIN IMMEDIATE on SQLite, order them.) No row comes back while locked. A run of failures older
        # than :forget_before starts again.
        self.reserve = Statement(
            f"""
            INSERT INTO {table} AS t ({columns}, failures, locked_until, last_attempt_at)
            VALUES ({", ".join(f":{column}" for column in [*account, "client"])}, 1, NULL, :now)
            ON CONFLICT ({columns}) DO UPDATE SET
                failures = CASE WHEN t.last_attempt_at < :forget_before THEN 1 ELSE t.failures + 1 END,
                last_attempt_at = :now
            WHERE t.locked_until IS NULL OR t.locked_until <= :now
            RETURNING failures
            """
        )
        self.locked_until = Statement(f"SELECT locked_until FROM {table} WHERE {key}")
        self.lock = Statement(f"UPDATE {table} SET locked_until = :locked_until WHERE {key}")
        self.clear = Statement(f"DELETE FROM {table} WHERE {key}")
        account_key = " AND ".join(f"{column} = :{column}" for column in account)
        # The account's failures from every address since :since: what the account-wide brake looks at.
        self.account_failures = Statement(
            f"SELECT COALESCE(SUM(failures), 0) FROM {table}"
            f" WHERE {account_key} AND last_attempt_at >= :since"
        )
        # Keeps the table from growing with guessed emails: runs that ended long ago are forgotten anyway.
        scope_key = "".join(f"{column} = :{column} AND " for column in scope)
        self.forget_old = Statement(
            f"""
            DELETE FROM {table}
            WHERE {scope_key}last_attempt_at < :forget_before
              AND (locked_until IS NULL OR locked_until < :forget_before)
            """
        )


STAFF = Throttle("login_throttle", "restaurant_id")
OWNERS = Throttle("owner_login_throttle")

Key = Mapping[str, str]  # the scope's columns, and email and client, as bound


async def reserve_attempt(
    *, connection: AsyncConnection, throttle: Throttle, key: Key, now: datetime, forget_before: datetime
) -> LoginAttempt | datetime:
    """The attempt let through (numbered within this client's run for this account), or when its lockout
    ends."""
    params = {**key, "now": moment(connection, now), "forget_before": moment(connection, forget_before)}
    failures = (await connection.execute(throttle.reserve.on(connection), params)).scalar_one_or_none()
    if failures is not None:
        return LoginAttempt(number=int(failures))
    locked_until = (await connection.execute(throttle.locked_until.on(connection), params)).scalar_one()
    return datetime_from_row(locked_until)


async def account_failures(
    *, connection: AsyncConnection, throttle: Throttle, key: Key, since: datetime
) -> int:
    """Failed (or unfinished) sign-ins of this account from every address since ``since``."""
    params: dict[str, Any] = {name: value for name, value in key.items() if name != "client"}
    params["since"] = moment(connection, since)
    return int((await connection.execute(throttle.account_failures.on(connection), params)).scalar_one())


async def lock(*, connection: AsyncConnection, throttle: Throttle, key: Key, until: datetime) -> None:
    await connection.execute(throttle.lock.on(connection), {**key, "locked_until": moment(connection, until)})


async def clear(*, connection: AsyncConnection, throttle: Throttle, key: Key) -> None:
    await connection.execute(throttle.clear.on(connection), dict(key))


async def forget_old(
    *, connection: AsyncConnection, throttle: Throttle, key: Key, forget_before: datetime
) -> None:
    params: dict[str, Any] = {name: value for name, value in key.items() if name not in ("email", "client")}
    params["forget_before"] = moment(connection, forget_before)
    await connection.execute(throttle.forget_old.on(connection), params)
