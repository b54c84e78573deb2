"""Every form and htmx POST of the pages needs the page's CSRF token and must come from this site; the JSON
API (bearer tokens, never sent by a browser on its own) does not."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import StaffRestaurant, join_body
from tests.web_helpers import create_staff, csrf_token, form_post, sign_in
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio

GUEST = {"name": "Ada", "mobile": "+14155550101", "party_size": "2", "idempotency_key": "key-1"}


async def waiting_count(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> int:
    count: int = (await client.get(restaurant.public)).json()["waitingCount"]
    return count


async def test_a_join_without_the_token_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    await client.get("/luigis")  # the browser has its cookie, but the form does not carry the token

    response = await client.post("/luigis/join", data=GUEST)

    assert response.status_code == 403
    assert "reload the page" in response.text
    assert await waiting_count(client, restaurant) == 0


async def test_a_token_that_does_not_match_the_cookie_is_refused(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    page = await client.get("/luigis")
    token = csrf_token(page.text)
    client.cookies.set("wl_csrf", "x" * 43)

    response = await client.post("/luigis/join", data={**GUEST, "csrf_token": token})

    assert response.status_code == 403
    assert await waiting_count(client, restaurant) == 0


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}],
    ids=["origin", "fetch-site"],
)
async def test_a_cross_site_post_is_refused_even_with_a_valid_token(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, headers: dict[str, str]
) -> None:
    response = await form_post(client, "/luigis", "/luigis/join", GUEST, headers=headers)

    assert response.status_code == 403
    assert await waiting_count(client, restaurant) == 0


async def test_the_same_form_with_its_token_from_this_site_is_accepted(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    response = await form_post(
        client,
        "/luigis",
        "/luigis/join",
        GUEST,
        headers={"Origin": "http://waitline.test", "Sec-Fetch-Site": "same-origin"},
    )

    assert response.status_code == 303
    assert await waiting_count(client, restaurant) == 1


async def test_staff_actions_without_the_token_are_refused(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    await client.post(f"{restaurant.public}/queue", json=join_body(1))
    await sign_in(client, await create_staff(database, "luigis"))

    called = await client.post("/staff/luigis/call-next", headers={"HX-Request": "true"})
    paused = await client.post("/staff/luigis/pause")
    signed_out = await client.post("/staff/luigis/logout")

    assert called.status_code == paused.status_code == signed_out.status_code == 403
    summary = (await client.get(restaurant.public)).json()
    assert summary["waitingCount"] == 1
    assert summary["open"] is True
    assert (await client.get("/staff/luigis")).status_code == 200  # still signed in


async def test_the_sign_in_form_needs_its_token(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    staff = await create_staff(database, "luigis")
    await client.get("/staff/luigis/login")

    response = await client.post(
        "/staff/luigis/login", data={"email": staff.email, "password": staff.password}
    )

    assert response.status_code == 403
    assert "wl_session" not in response.headers.get("set-cookie", "")


async def test_the_token_may_come_as_a_header_for_scripts(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    token = csrf_token((await client.get("/luigis")).text)

    response = await client.post("/luigis/join", data=GUEST, headers={"X-CSRF-Token": token})

    assert response.status_code == 303


async def test_the_json_api_needs_no_csrf_token(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    joined = await client.post(f"{restaurant.public}/queue", json=join_body(1))
    called = await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)

    assert joined.status_code == 201
    assert called.status_code == 200
