"""The staff dashboard: what it lists, its actions as forms and as htmx, and two devices pressing the same
button at once: the action happens once and the device that lost is told."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from tests.conftest import StaffRestaurant, join_body
from tests.web_helpers import create_staff, csrf_token, sign_in
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio

HTMX = {"HX-Request": "true"}


@pytest.fixture
async def staff_client(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> httpx.AsyncClient:
    await sign_in(client, await create_staff(database, "luigis"))
    return client


async def join(client: httpx.AsyncClient, restaurant: StaffRestaurant, *sizes: int) -> list[str]:
    ids = []
    for index, size in enumerate(sizes):
        response = await client.post(
            f"{restaurant.public}/queue", json=join_body(index, name=f"Guest {index}", partySize=size)
        )
        ids.append(response.json()["id"])
    return ids


async def press(
    client: httpx.AsyncClient, action: str, fields: dict[str, str] | None = None
) -> httpx.Response:
    """What pressing a dashboard button sends: its form (token, and what the page showed), by htmx."""
    page = await client.get("/staff/luigis")
    form = {"csrf_token": csrf_token(page.text), **(fields or {})}
    if action.endswith("call-next") and "seen_last_call" not in form:
        form["seen_last_call"] = seen_last_call(page.text)
    return await client.post(f"/staff/luigis/{action}", data=form, headers=HTMX)


def seen_last_call(html: str) -> str:
    match = re.search(r'name="seen_last_call" value="([^"]*)"', html)
    assert match
    return match.group(1)


def notice(html: str) -> str:
    match = re.search(r'<div id="notice"[^>]*>\s*(.*?)\s*</div>', html, re.S)
    assert match, html
    return match.group(1)


async def statuses(client: httpx.AsyncClient, restaurant: StaffRestaurant, ids: list[str]) -> list[str]:
    return [(await client.get(f"{restaurant.public}/queue/{entry_id}")).json()["status"] for entry_id in ids]


async def test_the_dashboard_lists_waiting_and_called_parties_and_the_days_counts(
    staff_client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    ids = await join(staff_client, restaurant, 2, 4, 3)
    await staff_client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
    await staff_client.post(f"{restaurant.admin}/queue/{ids[0]}/seat", headers=restaurant.headers)
    await staff_client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)

    page = (await staff_client.get("/staff/luigis")).text

    called = re.search(r'<section class="list" aria-labelledby="called-heading">(.*?)</section>', page, re.S)
    waiting = re.search(
        r'<section class="list" aria-labelledby="waiting-heading">(.*?)</section>', page, re.S
    )
    assert called and waiting
    assert re.findall(r'class="party-token">#(\d+)<', called.group(1)) == ["2"]
    assert "Guest 1" in called.group(1) and "4 people" in called.group(1)
    assert re.findall(r'class="party-token">#(\d+)<', waiting.group(1)) == ["3"]
    assert "waiting under a minute" in waiting.group(1)
    counts = dict(re.findall(r'data-count="([a-z-]+)">(\d+)<', page))
    assert counts == {
        "waiting": "1",
        "called": "1",
        "joined": "3",
        "seated": "1",
        "no-shows": "0",
        "cancelled": "0",
    }
    assert 'Call next: <span class="call-next-who">#3 <bdi>Guest 2</bdi> (3)</span>' in page


async def test_call_next_calls_the_first_in_line_and_says_who(
    staff_client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    ids = await join(staff_client, restaurant, 2, 4)

    response = await press(staff_client, "call-next")

    assert response.status_code == 200
    assert notice(response.text) == "Called #1 <bdi>Guest 0</bdi> (2 people)."
    assert 'hx-swap-oob="true"' in response.text
    assert "<html" not in response.text  # htmx gets the live part only
    assert await statuses(staff_client, restaurant, ids) == ["called", "waiting"]


async def test_call_next_that_fits_a_table_skips_larger_parties(
    staff_client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    ids = await join(staff_client, restaurant, 6, 2)

    fits = await press(staff_client, "call-next", {"max_party_size": "4"})
    none_fit = await press(staff_client, "call-next", {"max_party_size": "4"})
    nonsense = await press(staff_client, "call-next", {"max_party_size": "99"})

    assert notice(fits.text) == "Called #2 <bdi>Guest 1</bdi> (2 people)."
    assert notice(none_fit.text) == "Nobody waiting fits a table of 4."
    assert nonsense.status_code == 422
    assert await statuses(staff_client, restaurant, ids) == ["waiting", "called"]


async def test_seat_no_show_and_cancel_say_what_they_did(
    staff_client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    ids = await join(staff_client, restaurant, 1, 2, 3)
    for _ in range(2):
        await press(staff_client, "call-next")

    seated = await press(staff_client, f"entries/{ids[0]}/seat")
    no_show = await press(staff_client, f"entries/{ids[1]}/no-show")
    cancelled = await press(staff_client, f"entries/{ids[2]}/cancel")

    assert notice(seated.text) == "Seated #1 <bdi>Guest 0</bdi> (1 person)."
    assert notice(no_show.text) == "Marked #2 <bdi>Guest 1</bdi> (2 people) as a no-show."
    assert notice(cancelled.text) == "Cancelled #3 <bdi>Guest 2</bdi> (3 people)."
    assert await statuses(staff_client, restaurant, ids) == ["seated", "no_show", "cancelled"]


async def test_pausing_from_the_dashboard_stops_joins_until_resumed(
    staff_client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    paused = await press(staff_client, "pause")
    refused = await staff_client.post(f"{restaurant.public}/queue", json=join_body(1))
    resumed = await press(staff_client, "resume")

    assert "Paused" in paused.text and 'id="resume"' in paused.text
    assert refused.status_code == 409
    assert notice(resumed.text) == "The queue is open: guests can join."
    assert (await staff_client.get(restaurant.public)).json()["open"] is True


async def test_without_htmx_an_action_answers_with_the_whole_page(
    staff_client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    await join(staff_client, restaurant, 2)
    page = await staff_client.get("/staff/luigis")

    response = await staff_client.post(
        "/staff/luigis/call-next",
        data={"csrf_token": csrf_token(page.text), "seen_last_call": seen_last_call(page.text)},
    )

    assert response.status_code == 200
    assert "<html" in response.text
    assert notice(response.text) == "Called #1 <bdi>Guest 0</bdi> (2 people)."


async def test_two_devices_pressing_call_next_at_once_call_one_party_and_the_other_is_told(
    staff_client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    ids = await join(staff_client, restaurant, 2, 2, 2)
    page = await staff_client.get("/staff/luigis")
    form = {"csrf_token": csrf_token(page.text), "seen_last_call": seen_last_call(page.text)}

    answers = await asyncio.gather(
        *(staff_client.post("/staff/luigis/call-next", data=form, headers=HTMX) for _ in range(2))
    )

    assert sorted(answer.status_code for answer in answers) == [200, 409]
    loser = next(answer for answer in answers if answer.status_code == 409)
    assert notice(loser.text).startswith("Another device called a party first")
    assert await statuses(staff_client, restaurant, ids) == ["called", "waiting", "waiting"]


async def test_two_devices_seating_one_party_at_once_seat_it_once_and_the_other_is_told(
    staff_client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    (entry_id,) = await join(staff_client, restaurant, 2)
    await press(staff_client, "call-next")
    page = await staff_client.get("/staff/luigis")

    answers = await asyncio.gather(
        *(
            staff_client.post(
                f"/staff/luigis/entries/{entry_id}/{action}",
                data={"csrf_token": csrf_token(page.text)},
                headers=HTMX,
            )
            for action in ("seat", "seat", "no-show")
        )
    )

    assert sorted(answer.status_code for answer in answers) == [200, 409, 409]
    refusals = {notice(answer.text) for answer in answers if answer.status_code == 409}
    (winner,) = (answer for answer in answers if answer.status_code == 200)
    outcome = "seated" if notice(winner.text).startswith("Seated") else "marked as a no-show"
    assert refusals == {f"Nothing changed: token 1 is already {outcome}."}
    assert 'class="notice-bar notice-refused"' in next(a.text for a in answers if a.status_code == 409)


async def test_a_screen_that_missed_a_call_cannot_call_a_second_party_by_mistake(
    staff_client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    ids = await join(staff_client, restaurant, 2, 2)
    stale = await staff_client.get("/staff/luigis")
    # Another device calls #1; this screen has not seen it yet.
    await staff_client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)

    refused = await staff_client.post(
        "/staff/luigis/call-next",
        data={"csrf_token": csrf_token(stale.text), "seen_last_call": seen_last_call(stale.text)},
        headers=HTMX,
    )
    again = await press(staff_client, "call-next")

    assert refused.status_code == 409
    # The refreshed list shows who was called.
    assert 'class="party-token">#1<' in refused.text and "Guest 0" in refused.text
    assert notice(again.text) == "Called #2 <bdi>Guest 1</bdi> (2 people)."
    assert await statuses(staff_client, restaurant, ids) == ["called", "called"]


async def test_the_poster_shows_the_qr_code_and_the_join_address(staff_client: httpx.AsyncClient) -> None:
    poster = await staff_client.get("/staff/luigis/poster")

    assert poster.status_code == 200
    assert 'src="/luigis/qr.svg"' in poster.text
    assert "http://waitline.test/luigis" in poster.text
    assert "data-print" in poster.text
