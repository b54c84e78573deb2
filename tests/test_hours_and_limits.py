"""Opening hours and limits at the join: outside the hours (or on a closed date) the API refuses with a
``queue-closed`` problem giving the next opening time and the join page says when the queue opens; at the
most parties waiting joins get ``queue-full``, even when they race through two server processes; a party
over the largest size gets ``party-too-large``; staff keep serving the parties that wait after closing."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import Server, StaffRestaurant, join_body
from tests.load import fire, storm_client, warm_up
from tests.web_helpers import form_post
from waitline import language
from waitline.domain.hours import next_opening
from waitline.domain.location import decode_hours
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio

ZONE = "America/New_York"
ALL_DAY = json.dumps({day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})


async def set_location(database: Database, **columns: object) -> None:
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    async with database.transaction() as connection:
        statement = text(f"UPDATE restaurant SET {assignments} WHERE slug = 'luigis'")  # noqa: S608 (names from this file)
        await connection.execute(statement, columns)


def local_today() -> datetime:
    return datetime.now(UTC).astimezone(ZoneInfo(ZONE))


async def closed_today_and_tomorrow(database: Database) -> datetime:
    """Open all day every day but closed today and tomorrow (in New York): it opens the day after, at 0:00."""
    today = local_today().date()
    closed = [today.isoformat(), (today + timedelta(days=1)).isoformat()]
    await set_location(database, time_zone=ZONE, opening_hours=ALL_DAY, closed_dates=json.dumps(closed))
    return datetime.combine(today + timedelta(days=2), datetime.min.time(), tzinfo=ZoneInfo(ZONE))


async def test_outside_opening_hours_the_api_refuses_with_the_next_opening_time(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    opens = await closed_today_and_tomorrow(database)

    response = await client.post(f"{restaurant.public}/queue", json=join_body())

    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["type"] == "urn:waitline:problem:queue-closed"
    assert datetime.fromisoformat(problem["opensAt"]) == opens
    assert problem["opensAt"] == opens.isoformat()  # ISO 8601 with New York's offset, -05:00 or -04:00
    assert problem["opensAt"].endswith(("-05:00", "-04:00"))
    assert "opens on" in problem["detail"]


async def test_outside_opening_hours_the_join_page_says_when_the_queue_opens(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    opens = await closed_today_and_tomorrow(database)
    # Written for the guest's language, in the location's time zone ("Mon, November 30 at 5:00 PM").
    when = f"{language.day_of_year(opens, 'en')} at {language.clock_time(opens, 'en', opens.tzinfo or UTC)}"
    page = await client.get("/luigis", headers={"Accept-Language": "en"})
    assert f"The queue is closed now. It opens again on {when}." in html.unescape(page.text)
    form = {"name": "Ada", "mobile": "07400 123456", "party_size": "2", "idempotency_key": "key-1"}
    refused = await form_post(client, "/luigis", "/luigis/join", form)
    assert refused.status_code == 409, refused.text
    assert f"It opens again on {when}." in html.unescape(refused.text)
    spanish = await client.get("/luigis", headers={"Accept-Language": "es"})
    assert f"Vuelve a abrir el {language.day_of_year(opens, 'es')}" in html.unescape(spanish.text)


async def test_a_closed_weekday_refuses_and_an_open_span_lets_in(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    today = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local_today().weekday()]
    await set_location(database, time_zone=ZONE, opening_hours=json.dumps({today: []}))
    assert (await client.post(f"{restaurant.public}/queue", json=join_body(0))).status_code == 409
    await set_location(database, opening_hours=json.dumps({today: [["00:00", "24:00"]]}))
    assert (await client.post(f"{restaurant.public}/queue", json=join_body(1))).status_code == 201


async def test_at_closing_time_joins_stop_and_staff_keep_serving(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    for index in range(2):
        assert (await client.post(f"{restaurant.public}/queue", json=join_body(index))).status_code == 201
    await closed_today_and_tomorrow(database)  # the queue closes

    assert (await client.post(f"{restaurant.public}/queue", json=join_body(2))).status_code == 409
    called = await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
    assert called.status_code == 200 and called.json()["tokenNumber"] == 1
    seated = await client.post(
        f"{restaurant.admin}/queue/{called.json()['id']}/seat", headers=restaurant.headers
    )
    assert seated.status_code == 200


async def test_a_party_over_the_largest_size_is_refused(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    await set_location(database, max_party_size=6)
    refused = await client.post(f"{restaurant.public}/queue", json=join_body(0, partySize=7))
    assert refused.status_code == 422 and refused.json()["type"].endswith("party-too-large")
    assert (
        await client.post(f"{restaurant.public}/queue", json=join_body(1, partySize=6))
    ).status_code == 201


async def test_at_the_most_parties_waiting_joins_get_queue_full_until_one_is_called(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    await set_location(database, max_waiting=2)
    for index in range(2):
        assert (await client.post(f"{restaurant.public}/queue", json=join_body(index))).status_code == 201
    full = await client.post(f"{restaurant.public}/queue", json=join_body(2))
    assert full.status_code == 409 and full.json()["type"] == "urn:waitline:problem:queue-full"
    await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
    assert (await client.post(f"{restaurant.public}/queue", json=join_body(3))).status_code == 201


def test_the_next_opening_skips_closed_dates_and_finds_the_next_span() -> None:
    zone = ZoneInfo("Europe/Paris")
    hours = decode_hours(
        json.dumps({"mon": [["11:30", "14:30"], ["18:00", "22:00"]], "sat": [["10:00", "24:00"]]})
    )
    monday_noon = datetime(2026, 11, 30, 12, 0, tzinfo=zone)  # a Monday, open
    assert next_opening(hours, (), zone, monday_noon) == datetime(2026, 11, 30, 18, 0, tzinfo=zone)
    monday_late = datetime(2026, 11, 30, 23, 0, tzinfo=zone)
    assert next_opening(hours, (), zone, monday_late) == datetime(2026, 12, 5, 10, 0, tzinfo=zone)
    closed = (datetime(2026, 12, 5).date(),)
    assert next_opening(hours, closed, zone, monday_late) == datetime(2026, 12, 7, 11, 30, tzinfo=zone)


# --- racing joins through two server processes ------------------------------------------------------------

MAX_WAITING = 7
RACERS = 60
ROUNDS = 3


@pytest.fixture
def two_servers(server_factory: Callable[..., Server], database_url: str) -> tuple[Server, Server]:
    if database_url.startswith("sqlite"):
        # One process on SQLite (two processes on one SQLite file is not a supported deployment).
        server = server_factory(database_url)
        return server, server
    return server_factory(database_url), server_factory(database_url)


async def test_racing_joins_never_overshoot_the_most_parties_waiting(
    two_servers: tuple[Server, Server], database: Database, restaurant: StaffRestaurant
) -> None:
    half = RACERS // 2
    async with (
        storm_client(two_servers[0].base_url, half) as a,
        storm_client(two_servers[1].base_url, half) as b,
    ):
        clients = [a, b]
        for round_number in range(1, ROUNDS + 1):
            # Each round the limit is raised by MAX_WAITING and RACERS new guests race for the places.
            await set_location(database, max_waiting=MAX_WAITING * round_number)
            for one in clients:
                await warm_up(one, half)
            storm = await fire(
                [
                    (
                        clients[i % 2],
                        clients[i % 2].build_request(
                            "POST", f"{restaurant.public}/queue", json=join_body(round_number * RACERS + i)
                        ),
                    )
                    for i in range(RACERS)
                ]
            )
            assert storm.statuses() == {201: MAX_WAITING, 409: RACERS - MAX_WAITING}, (
                round_number,
                storm.statuses(),
            )
    async with database.snapshot() as connection:
        waiting = (
            await connection.execute(text("SELECT count(*) FROM queue_entry WHERE status = 'waiting'"))
        ).scalar_one()
    assert waiting == MAX_WAITING * ROUNDS
