"""The pages' CSRF token is bound to the browser's session: an HMAC under a server secret of the staff session
(or, before sign-in, of a random pre-session id), so a value planted as both cookie and field is refused, and
signing in renews it. The secret is shared through the database: a form served by one instance is accepted
by another."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import StaffRestaurant
from tests.web_helpers import create_staff, csrf_token, sign_in
from waitline.config import Settings
from waitline.store.engine import Database
from waitline.web.app import create_app

pytestmark = pytest.mark.anyio

GUEST = {"name": "Ada", "mobile": "+14155550101", "party_size": "2", "idempotency_key": "key-1"}


async def test_a_value_planted_as_both_cookie_and_field_is_refused(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    planted = "p" * 43
    client.cookies.set("wl_csrf", planted)

    response = await client.post("/luigis/join", data={**GUEST, "csrf_token": planted})

    assert response.status_code == 403
    assert (await client.get(restaurant.public)).json()["waitingCount"] == 0


async def test_the_token_is_not_the_cookie(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> None:
    page = await client.get("/luigis")

    assert csrf_token(page.text) != client.cookies["wl_csrf"]


async def test_signing_in_renews_the_token_and_the_old_one_is_refused(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    staff = await create_staff(database, "luigis")
    before = csrf_token((await client.get("/staff/luigis/login")).text)
    cookie_before = client.cookies["wl_csrf"]

    assert (await sign_in(client, staff)).status_code == 303
    after = csrf_token((await client.get("/staff/luigis")).text)
    with_old = await client.post("/staff/luigis/pause", data={"csrf_token": before})
    with_new = await client.post("/staff/luigis/pause", data={"csrf_token": after})

    assert after != before
    assert client.cookies["wl_csrf"] != cookie_before
    assert with_old.status_code == 403
    assert with_new.status_code in (200, 303)
    assert (await client.get(restaurant.public)).json()["open"] is False


async def test_a_signed_in_token_dies_with_its_session(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    staff = await create_staff(database, "luigis")
    await sign_in(client, staff)
    first_session = csrf_token((await client.get("/staff/luigis")).text)
    await client.post("/staff/luigis/logout", data={"csrf_token": first_session})
    await sign_in(client, staff)

    response = await client.post("/staff/luigis/pause", data={"csrf_token": first_session})

    assert response.status_code == 403
    assert (await client.get(restaurant.public)).json()["open"] is True


async def test_a_form_from_one_instance_is_accepted_by_another(
    settings: Settings, restaurant: StaffRestaurant
) -> None:
    first, second = create_app(settings), create_app(settings)
    async with first.router.lifespan_context(first), second.router.lifespan_context(second):
        jar = httpx.Cookies()
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://waitline.test", cookies=jar
            )
            for app in (first, second)
        ]
        token = csrf_token((await clients[0].get("/luigis")).text)
        clients[1].cookies = clients[0].cookies
        joined = await clients[1].post("/luigis/join", data={**GUEST, "csrf_token": token})
        for client in clients:
            await client.aclose()

    assert joined.status_code == 303
