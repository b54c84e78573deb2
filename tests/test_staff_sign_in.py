"""Staff sign-in: argon2id passwords, the session cookie's flags, the login throttle kept in the database,
and staff pages refusing anyone who is not signed in for that very restaurant."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.conftest import StaffRestaurant, join_body, make_restaurant
from tests.web_helpers import STAFF_PASSWORD, Staff, create_staff, csrf_token, form_post, sign_in
from waitline import auth
from waitline.config import Settings
from waitline.domain import Action, LoginFailed, LoginThrottled, NotAuthenticated
from waitline.services import Services
from waitline.services.access import Credentials
from waitline.store.engine import Database
from waitline.web.app import create_app
from waitline.web.pages_staff import SESSION_COOKIE

pytestmark = pytest.mark.anyio

SESSION = timedelta(hours=1)
T0 = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)


def session_cookie(response: httpx.Response) -> str:
    return next(
        value for value in response.headers.get_list("set-cookie") if value.startswith(SESSION_COOKIE)
    )


async def log_in(
    database: Database, email: str, password: str, now: datetime, *, client: str = "192.0.2.1"
) -> str:
    return await Services(database=database).accounts.log_in(
        slug="luigis", email=email, password=password, client=client, session_lifetime=SESSION, now=now
    )


async def test_passwords_are_stored_as_argon2id_hashes_with_the_owasp_parameters(
    database: Database, restaurant: StaffRestaurant
) -> None:
    await create_staff(database, "luigis", "ada@luigis.test")
    async with database.snapshot() as connection:
        stored = (await connection.exec_driver_sql("SELECT password_hash FROM staff_user")).scalar_one()

    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert STAFF_PASSWORD not in stored
    assert auth.verify_password(stored, STAFF_PASSWORD)


async def test_signing_in_sets_an_httponly_samesite_lax_session_cookie(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    staff = await create_staff(database, "luigis")

    response = await sign_in(client, staff)

    assert response.status_code == 303
    assert response.headers["location"] == "/staff/luigis"
    cookie = session_cookie(response)
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert "httponly" in attributes
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in attributes  # plain http here
    dashboard = await client.get("/staff/luigis")
    assert dashboard.status_code == 200
    assert "Call next" in dashboard.text


async def test_over_https_the_session_cookie_is_secure(
    app: FastAPI, database: Database, restaurant: StaffRestaurant
) -> None:
    staff = await create_staff(database, "luigis")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://waitline.test") as client:
        response = await sign_in(client, staff)

    cookie = session_cookie(response)
    assert "secure" in {part.strip().lower() for part in cookie.split(";")}


async def test_behind_a_tls_proxy_a_https_public_url_makes_the_cookies_secure(
    settings: Settings, restaurant: StaffRestaurant
) -> None:
    # The proxy speaks plain http to waitline; only the public address says the browser is on https.
    app = create_app(settings.model_copy(update={"public_url": "https://queue.example.com"}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://queue.example.com") as client:
            page = await client.get("/staff/luigis/login")

    cookies = page.headers.get_list("set-cookie")
    assert cookies
    assert all("secure" in {part.strip().lower() for part in cookie.split(";")} for cookie in cookies)


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    staff = await create_staff(database, "luigis", "ada@luigis.test")

    wrong_password = await sign_in(client, staff, password="not the password")
    unknown = await sign_in(client, staff.__class__(slug="luigis", email="nobody@luigis.test"))

    assert wrong_password.status_code == unknown.status_code == 401
    assert LoginFailed().detail in wrong_password.text
    # The pages differ only in the email typed in.
    assert wrong_password.text.replace(staff.email, "@") == unknown.text.replace("nobody@luigis.test", "@")
    assert SESSION_COOKIE not in wrong_password.headers.get("set-cookie", "")


async def test_after_five_failures_even_the_right_password_waits_for_the_lockout(
    database: Database, restaurant: StaffRestaurant
) -> None:
    staff = await create_staff(database, "luigis", "ada@luigis.test")
    for attempt in range(5):
        with pytest.raises(LoginFailed):
            await log_in(database, staff.email, "guess", T0 + timedelta(seconds=attempt))

    with pytest.raises(LoginThrottled) as throttled:
        await log_in(database, staff.email, staff.password, T0 + timedelta(seconds=10))
    assert 0 < throttled.value.retry_after_seconds <= 30

    # Once the lockout is over, the right password works, and the count starts again.
    assert await log_in(database, staff.email, staff.password, T0 + timedelta(seconds=40))
    with pytest.raises(LoginFailed):
        await log_in(database, staff.email, "guess", T0 + timedelta(seconds=41))


async def test_each_further_failure_doubles_the_lockout(
    database: Database, restaurant: StaffRestaurant
) -> None:
    staff = await create_staff(database, "luigis", "ada@luigis.test")
    now = T0
    for _ in range(5):
        with pytest.raises(LoginFailed):
            await log_in(database, staff.email, "guess", now)
    lockouts = []
    for _ in range(3):
        with pytest.raises(LoginThrottled) as throttled:
            await log_in(database, staff.email, "guess", now)
        lockouts.append(throttled.value.retry_after_seconds)
        now += timedelta(seconds=throttled.value.retry_after_seconds)
        with pytest.raises(LoginFailed):
            await log_in(database, staff.email, "guess", now)

    assert lockouts == [30, 60, 120]


async def test_an_unknown_email_is_locked_out_exactly_like_a_known_one(
    database: Database, restaurant: StaffRestaurant
) -> None:
    await create_staff(database, "luigis", "ada@luigis.test")

    async def outcomes(email: str) -> list[str]:
        seen = []
        for attempt in range(7):
            try:
                await log_in(database, email, "guess", T0 + timedelta(seconds=attempt))
            except (LoginFailed, LoginThrottled) as error:
                seen.append(f"{type(error).__name__}: {error.detail}")
        return seen

    known, unknown = await outcomes("ada@luigis.test"), await outcomes("nobody@luigis.test")

    assert known == unknown
    assert known[4].startswith("LoginFailed") and known[5].startswith("LoginThrottled")


async def test_racing_attempts_get_no_more_than_the_free_ones(
    database: Database, restaurant: StaffRestaurant
) -> None:
    staff = await create_staff(database, "luigis", "ada@luigis.test")

    results = await asyncio.gather(
        *(log_in(database, staff.email, f"guess {i}", T0) for i in range(16)), return_exceptions=True
    )

    assert sum(isinstance(result, LoginFailed) for result in results) == 5
    assert sum(isinstance(result, LoginThrottled) for result in results) == 11


async def test_the_throttle_is_shared_by_every_app_instance(
    settings: Settings, database: Database, restaurant: StaffRestaurant
) -> None:
    staff = await create_staff(database, "luigis", "ada@luigis.test")
    first, second = create_app(settings), create_app(settings)
    async with first.router.lifespan_context(first), second.router.lifespan_context(second):
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://waitline.test")
            for app in (first, second)
        ]
        answers = [(await sign_in(clients[i % 2], staff, password="guess")).status_code for i in range(6)]
        for client in clients:
            await client.aclose()

    assert answers == [401, 401, 401, 401, 401, 429]


async def test_the_login_page_says_when_to_try_again(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    staff = await create_staff(database, "luigis")
    for _ in range(5):
        await sign_in(client, staff, password="guess")

    locked = await sign_in(client, staff)

    assert locked.status_code == 429
    assert locked.headers["retry-after"].isdigit()
    assert "Too many failed sign-in attempts" in locked.text
    assert (await client.get("/staff/luigis", follow_redirects=False)).status_code == 303


async def test_one_address_gets_a_few_sign_in_attempts_a_minute_whatever_the_emails(
    settings: Settings, database: Database, restaurant: StaffRestaurant
) -> None:
    staff = await create_staff(database, "luigis")
    app = create_app(settings.model_copy(update={"rate_limit_sign_in_per_ip": "3/minute"}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://waitline.test") as client:
            made_up = [
                await sign_in(client, Staff(slug="luigis", email=f"guess{n}@example.com"), password="x" * 12)
                for n in range(3)
            ]
            refused = await sign_in(client, staff)  # even the right password: this address is out of tries

    assert [response.status_code for response in made_up] == [401, 401, 401]
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "Too many sign-in attempts from this device" in refused.text
    assert SESSION_COOKIE not in refused.headers.get("set-cookie", "")
    async with database.snapshot() as connection:
        counted = await connection.execute(text("SELECT count(*) FROM login_throttle"))
        assert counted.scalar_one() == 3  # the refused attempt never reached the account throttle


async def test_sign_in_attempts_from_one_ipv6_64_share_one_allowance(
    settings: Settings, database: Database, restaurant: StaffRestaurant
) -> None:
    staff = await create_staff(database, "luigis")
    app = create_app(settings.model_copy(update={"rate_limit_sign_in_per_ip": "2/minute"}))

    async def attempt(ip: str) -> int:
        transport = httpx.ASGITransport(app=app, client=(ip, 50123))
        async with httpx.AsyncClient(transport=transport, base_url="http://waitline.test") as client:
            return (await sign_in(client, staff, password="not the password")).status_code

    async with app.router.lifespan_context(app):
        one_64 = [await attempt(ip) for ip in ["2001:db8:7:7::1", "2001:db8:7:7::2", "2001:db8:7:7:1::3"]]
        another_64 = await attempt("2001:db8:7:8::1")

    assert one_64 == [401, 401, 429]
    assert another_64 == 401


async def test_staff_pages_send_the_signed_out_to_sign_in(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    for path in ("/staff/luigis", "/staff/luigis/poster"):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == "/staff/luigis/login"
    # A live stream just tells the page to reload (which then shows the sign-in page).
    stream = await client.get("/staff/luigis/live")
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert "event: ended" in stream.text


async def test_staff_of_one_restaurant_cannot_see_or_act_on_another(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    other = await make_restaurant(database, slug="marios")
    joined = await client.post(f"{other.public}/queue", json=join_body(1, name="Secret Guest"))
    entry_id = joined.json()["id"]
    staff = await create_staff(database, "luigis")
    await sign_in(client, staff)

    dashboard = await client.get("/staff/marios")
    called = await form_post(client, "/staff/luigis", "/staff/marios/call-next")
    cancelled = await form_post(client, "/staff/luigis", f"/staff/marios/entries/{entry_id}/cancel")
    # Their own dashboard, but another restaurant's entry: not found there, nothing changes.
    through_own = await form_post(client, "/staff/luigis", f"/staff/luigis/entries/{entry_id}/cancel")

    assert dashboard.status_code == called.status_code == cancelled.status_code == 403
    assert "Secret Guest" not in dashboard.text
    assert through_own.status_code == 404
    assert (await client.get(f"{other.public}/queue/{entry_id}")).json()["status"] == "waiting"


async def test_signing_out_ends_the_session(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    staff = await create_staff(database, "luigis")
    await sign_in(client, staff)
    secret = client.cookies.get(SESSION_COOKIE)
    assert secret

    dashboard = await client.get("/staff/luigis")
    signed_out = await client.post("/staff/luigis/logout", data={"csrf_token": csrf_token(dashboard.text)})
    client.cookies.set(SESSION_COOKIE, secret, path="/staff")  # the old cookie, replayed

    assert signed_out.status_code == 303
    assert (await client.get("/staff/luigis")).status_code == 303


async def test_an_expired_session_signs_out(database: Database, restaurant: StaffRestaurant) -> None:
    staff = await create_staff(database, "luigis")
    long_ago = datetime.now(UTC) - SESSION - timedelta(seconds=1)
    secret = await log_in(database, staff.email, staff.password, long_ago)

    with pytest.raises(NotAuthenticated):
        await Services(database=database).access.authorise(
            action=Action.RUN_QUEUE, credentials=Credentials(staff_secret=secret), slug="luigis"
        )
