"""The guest's pages without JavaScript (plain forms) and as the page's script calls them (JSON answers):
joining, every refusal said clearly, the status page, leaving, the board and the QR code."""

from __future__ import annotations

import io
import re

import httpx
import pytest
import segno

from tests.conftest import StaffRestaurant, join_body, make_restaurant
from tests.web_helpers import csrf_token, form_post
from waitline.domain import QueueClosed
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio

GUEST = {"name": "Ada Lovelace", "mobile": "07400 123456", "party_size": "3"}
JSON = {"Accept": "application/json"}


def guest(key: str, **overrides: str) -> dict[str, str]:
    return {**GUEST, "idempotency_key": key, **overrides}


async def test_the_join_page_shows_the_queue_and_a_form_with_a_fresh_idempotency_key(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    for index in range(2):
        await client.post(f"{restaurant.public}/queue", json=join_body(index))

    first, second = await client.get("/luigis"), await client.get("/luigis")

    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/html")
    assert "Luigis" in first.text
    assert "Open: taking new guests" in first.text
    assert re.search(r"Parties waiting</dt><dd>2</dd>", first.text)
    assert "Estimated wait" in first.text
    assert "+44" in first.text  # national numbers are read in the restaurant's country
    keys = [re.search(r'name="idempotency_key" value="([^"]+)"', page.text) for page in (first, second)]
    assert keys[0] and keys[1] and keys[0].group(1) != keys[1].group(1)
    assert "default-src 'self'" in first.headers["content-security-policy"]
    assert first.headers["cache-control"] == "no-store"


async def test_joining_without_javascript_leads_to_the_status_page(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    await client.post(f"{restaurant.public}/queue", json=join_body(9))

    joined = await form_post(client, "/luigis", "/luigis/join", guest("key-1"))
    status = await client.get(joined.headers["location"])

    assert joined.status_code == 303
    assert re.fullmatch(r"/luigis/e/[0-9a-f-]{36}", joined.headers["location"])
    assert status.status_code == 200
    assert re.search(r'class="token" data-token-number>2<', status.text)
    assert "2nd</bdi></strong> in line" in status.text
    assert "<bdi>Ada Lovelace</bdi> · party of 3" in status.text


async def test_sending_the_same_form_again_returns_the_same_place(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    first = await form_post(client, "/luigis", "/luigis/join", guest("key-1"))
    again = await form_post(client, "/luigis", "/luigis/join", guest("key-1"))
    as_script = await form_post(client, "/luigis", "/luigis/join", guest("key-1"), headers=JSON)

    assert first.headers["location"] == again.headers["location"] == as_script.json()["location"]
    assert (await client.get(restaurant.public)).json()["waitingCount"] == 1


async def test_the_script_gets_the_place_as_json(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    response = await form_post(client, "/luigis", "/luigis/join", guest("key-1"), headers=JSON)

    assert response.status_code == 200
    assert response.json()["token"] == 1
    assert response.json()["location"].startswith("/luigis/e/")


async def test_a_paused_queue_says_so_on_the_page_and_in_the_refusal(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    await client.post(f"{restaurant.admin}/queue/pause", headers=restaurant.headers)

    page = await client.get("/luigis")
    as_form = await form_post(client, "/luigis", "/luigis/join", guest("key-1"))
    as_script = await form_post(client, "/luigis", "/luigis/join", guest("key-1"), headers=JSON)

    assert "Paused: not taking new guests right now" in page.text
    assert '<fieldset id="join-fields" disabled>' in page.text
    assert as_form.status_code == as_script.status_code == 409
    assert "The queue is paused" in as_form.text
    assert as_script.json()["message"].startswith("The queue is paused")
    assert QueueClosed().detail not in as_script.json()["message"]  # said for guests, not for developers
    assert (await client.get(restaurant.public)).json()["waitingCount"] == 0


async def test_an_invalid_number_is_refused_next_to_the_field_and_what_was_typed_is_kept(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    as_form = await form_post(client, "/luigis", "/luigis/join", guest("key-1", mobile="12345"))
    as_script = await form_post(
        client, "/luigis", "/luigis/join", guest("key-1", mobile="12345"), headers=JSON
    )
    corrected = await form_post(client, "/luigis", "/luigis/join", guest("key-1"))

    assert as_form.status_code == as_script.status_code == 422
    assert re.search(r'id="mobile-error" class="field-error" >The mobile number is not a valid', as_form.text)
    assert 'value="Ada Lovelace"' in as_form.text
    assert 'name="idempotency_key" value="key-1"' in as_form.text  # the corrected retry keeps its key
    assert as_script.json()["errors"] == {"mobile": "The mobile number is not a valid phone number."}
    assert corrected.status_code == 303


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"name": "  "}, "name"), ({"mobile": ""}, "mobile"), ({"party_size": "21"}, "party_size")],
)
async def test_missing_or_impossible_fields_are_named(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, overrides: dict[str, str], field: str
) -> None:
    response = await form_post(client, "/luigis", "/luigis/join", guest("key-1", **overrides), headers=JSON)

    assert response.status_code == 422
    assert list(response.json()["errors"]) == [field]
    assert (await client.get(restaurant.public)).json()["waitingCount"] == 0


async def test_the_status_page_follows_the_entry_and_survives_a_reload(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    location = (await form_post(client, "/luigis", "/luigis/join", guest("key-1"))).headers["location"]
    before = await client.get(location)
    await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
    called = await client.get(location)

    assert "You are next!" in before.text
    assert 'data-status="called"' in called.text
    assert "your turn" in called.text


async def test_leaving_the_queue_cancels_the_entry(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    location = (await form_post(client, "/luigis", "/luigis/join", guest("key-1"))).headers["location"]
    page = await client.get(location)

    left = await client.post(f"{location}/leave", data={"csrf_token": csrf_token(page.text)})
    again = await client.post(f"{location}/leave", data={"csrf_token": csrf_token(page.text)})
    after = await client.get(location)

    assert "Yes, leave the queue" in page.text
    assert left.status_code == again.status_code == 303
    assert "You have left the queue." in after.text
    assert (await client.get(f"{restaurant.public}/queue/{location.rsplit('/', 1)[1]}")).json()[
        "status"
    ] == "cancelled"


@pytest.mark.parametrize(
    "path",
    [
        "/nobody-here",
        "/luigis/e/6b0c0d59-8a8c-4e0a-9d42-0d7f1b7f6c1a",
        "/luigis/e/not-a-uuid",
        "/nobody-here/board",
        "/nobody-here/qr.svg",
    ],
)
async def test_unknown_addresses_get_a_not_found_page(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, path: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "There is nothing at this address" in response.text


async def test_an_entry_is_only_found_under_its_own_restaurant(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    await make_restaurant(database, slug="marios")
    location = (await form_post(client, "/luigis", "/luigis/join", guest("key-1"))).headers["location"]

    assert (await client.get(location)).status_code == 200
    assert (await client.get(location.replace("/luigis/", "/marios/"))).status_code == 404


async def test_the_board_shows_the_latest_called_tokens_and_no_names(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    for index in range(4):
        await client.post(f"{restaurant.public}/queue", json=join_body(index, name=f"Secret {index}"))
    for _ in range(3):
        await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)

    board = await client.get("/luigis/board")

    assert re.search(r"data-now-serving>3<", board.text)
    assert re.search(r"<li>2</li><li>1</li>", board.text)
    assert "1</bdi> party waiting" in board.text
    assert "Secret" not in board.text


async def test_the_qr_code_is_an_svg_of_the_join_page_address(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    response = await client.get("/luigis/qr.svg")

    expected = io.BytesIO()
    segno.make("http://waitline.test/luigis", error="m").save(
        expected, kind="svg", scale=8, border=2, xmldecl=False, title="Join the queue at Luigis"
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.content == expected.getvalue()
