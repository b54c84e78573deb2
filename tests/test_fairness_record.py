"""Why someone went first: a guest's status page says, in plain words, who was called before them although
they came later, and why (from the event log's `called` events and the table each call was for)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import StaffRestaurant, join_body
from waitline.domain import Overtaking
from waitline.web.wording import overtaking

pytestmark = pytest.mark.anyio


async def join(client: httpx.AsyncClient, restaurant: StaffRestaurant, index: int, party_size: int) -> str:
    response = await client.post(f"{restaurant.public}/queue", json=join_body(index, partySize=party_size))
    assert response.status_code == 201
    entry_id: str = response.json()["id"]
    return entry_id


async def call_for_table(client: httpx.AsyncClient, restaurant: StaffRestaurant, size: int) -> int:
    called = await client.post(
        f"{restaurant.admin}/queue/call-next", json={"maxPartySize": size}, headers=restaurant.headers
    )
    assert called.status_code == 200
    token: int = called.json()["tokenNumber"]
    return token


async def test_the_status_page_says_who_went_first_and_why(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    big = await join(client, restaurant, 1, party_size=6)  # token 1
    await join(client, restaurant, 2, party_size=2)  # token 2
    await join(client, restaurant, 3, party_size=2)  # token 3
    first_page = await client.get(f"/luigis/e/{big}")

    passed = [await call_for_table(client, restaurant, 2) for _ in range(2)]
    page = await client.get(f"/luigis/e/{big}")

    assert passed == [2, 3]
    assert "data-overtaken" not in first_page.text  # nobody had gone first yet
    assert "#2 and #3 were called before you: tables for 2 came free, and your party is 6." in page.text


async def test_parties_called_in_turn_or_before_the_guest_joined_are_not_said_to_have_gone_first(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    await join(client, restaurant, 1, party_size=2)
    await call_for_table(client, restaurant, 4)  # token 1, in turn, before our guest joined
    guest = await join(client, restaurant, 2, party_size=4)  # token 2
    await join(client, restaurant, 3, party_size=2)  # token 3
    await call_for_table(client, restaurant, 4)  # our guest, in turn
    await call_for_table(client, restaurant, 2)  # token 3, after our guest was called

    page = await client.get(f"/luigis/e/{guest}")

    assert 'data-status="called"' in page.text
    assert "data-overtaken" not in page.text


def test_the_sentence_names_a_few_and_counts_the_rest() -> None:
    one = Overtaking(tokens=(14,), table_sizes=(4,), party_size=6)
    many = Overtaking(tokens=(3, 4, 5, 6, 7, 9), table_sizes=(2, 4), party_size=8)

    assert overtaking(one) == "#14 was called before you: a table for 4 came free, and your party is 6."
    assert overtaking(many) == (
        "#3, #4, #5, #6 and 2 more parties were called before you: tables for 2 and 4 came free, "
        "and your party is 8."
    )
