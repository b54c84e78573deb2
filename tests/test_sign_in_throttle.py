"""Sign-in throttling that slows guessers without locking out the real person (OWASP Authentication Cheat
Sheet): failures count per account and address, so a stranger's guesses lock the stranger out, not the host;
an account-wide brake bounds what many addresses together may guess, yet lets the right password in from an
address that has not been guessing. (Per address across accounts: test_staff_sign_in.py's
``test_one_address_gets_a_few_sign_in_attempts_a_minute_whatever_the_emails``.) The counts live in the
database, so every instance sees them."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.conftest import StaffRestaurant
from tests.test_staff_sign_in import T0, log_in
from tests.web_helpers import create_staff, sign_in
from waitline.config import Settings
from waitline.domain import LoginFailed, LoginThrottled
from waitline.services.lockout import LOGIN_BRAKE_FAILURES
from waitline.store.engine import Database
from waitline.web.app import create_app

pytestmark = pytest.mark.anyio

ATTACKER = "203.0.113.9"
HOST = "198.51.100.4"


async def guess(database: Database, email: str, now: timedelta, *, client: str) -> str:
    """'failed', or 'throttled'."""
    try:
        await log_in(database, email, "not the password", T0 + now, client=client)
    except LoginFailed:
        return "failed"
    except LoginThrottled:
        return "throttled"
    raise AssertionError("a wrong password got in")


async def test_a_strangers_guesses_all_evening_never_keep_the_host_out(
    database: Database, restaurant: StaffRestaurant
) -> None:
    staff = await create_staff(database, "luigis")
    # Five wrong guesses at once, then one every 15 minutes for four hours, from the stranger's address.
    opening = [await guess(database, staff.email, timedelta(seconds=n), client=ATTACKER) for n in range(5)]
    host_signed_in = []
    for quarter in range(1, 17):
        at = timedelta(minutes=15 * quarter)
        await guess(database, staff.email, at, client=ATTACKER)
        secret = await log_in(
            database, staff.email, staff.password, T0 + at + timedelta(seconds=1), client=HOST
        )
        host_signed_in.append(bool(secret))

    assert opening == ["failed"] * 5
    assert host_signed_in == [True] * 16


async def test_a_guesser_from_one_address_is_slowed_down(
    database: Database, restaurant: StaffRestaurant
) -> None:
    staff = await create_staff(database, "luigis")
    tries = [await guess(database, staff.email, timedelta(seconds=n), client=ATTACKER) for n in range(8)]

    assert tries == ["failed"] * 5 + ["throttled"] * 3


async def test_many_addresses_hit_the_account_brake_yet_the_right_password_gets_in_from_elsewhere(
    database: Database, restaurant: StaffRestaurant
) -> None:
    staff = await create_staff(database, "luigis")
    botnet = [f"192.0.2.{n}" for n in range(1, LOGIN_BRAKE_FAILURES + 1)]
    first = [await guess(database, staff.email, timedelta(seconds=1), client=address) for address in botnet]
    # The account has had its LOGIN_BRAKE_FAILURES failures: each address gets a second guess, not a third.
    second = [await guess(database, staff.email, timedelta(seconds=2), client=address) for address in botnet]
    third = [await guess(database, staff.email, timedelta(seconds=3), client=address) for address in botnet]
    host = await log_in(database, staff.email, staff.password, T0 + timedelta(seconds=4), client=HOST)

    assert first == ["failed"] * len(botnet)
    assert second == ["failed"] * len(botnet)
    assert third == ["throttled"] * len(botnet)
    assert host


async def test_the_login_page_counts_each_address_on_its_own(
    settings: Settings, database: Database, restaurant: StaffRestaurant
) -> None:
    staff = await create_staff(database, "luigis")
    app = create_app(settings)

    async def attempt(ip: str, password: str) -> int:
        transport = httpx.ASGITransport(app=app, client=(ip, 50123))
        async with httpx.AsyncClient(transport=transport, base_url="http://waitline.test") as client:
            return (await sign_in(client, staff, password=password)).status_code

    async with app.router.lifespan_context(app):
        stranger = [await attempt(ATTACKER, "not the password") for _ in range(6)]
        host = await attempt(HOST, staff.password)

    assert stranger == [401] * 5 + [429]
    assert host == 303
