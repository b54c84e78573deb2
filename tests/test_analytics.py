"""Analytics on a generated month: the counts, waits and quotes the service, the page and the API give equal
what SQL and the generated parties say independently; the CSV exports hold exactly the range's rows, with
mobile numbers masked. On both databases."""

from __future__ import annotations

import csv
import io
import re
import statistics
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from bench import history
from bench.history import Party
from sqlalchemy import text

from tests.conftest import StaffRestaurant, make_restaurant
from tests.web_helpers import create_staff, sign_in
from waitline import phone
from waitline.domain import Role
from waitline.domain.analytics import hour_of_week, inside
from waitline.domain.rollup import PRECISION_MINUTES
from waitline.services import Services
from waitline.store.engine import Database
from waitline.store.values import moment

pytestmark = pytest.mark.anyio

UTC_ZONE = ZoneInfo("UTC")
FIRST = date(2026, 10, 1)
LAST = date(2026, 10, 30)
START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 10, 31, tzinfo=UTC)


def _quote(party: Party) -> tuple[int, int]:
    return party.position * 2, party.position * 3 + 4


async def generate_month(database: Database, restaurant: StaffRestaurant, *, seed: int = 7) -> list[Party]:
    """A month and two days around it (what lies outside the range must not count)."""
    parties = history.simulate(
        first_day=FIRST - timedelta(days=1), days=32, parties_per_day=30, seed=seed, quote=_quote
    )
    async with database.transaction() as connection:
        await history.write(connection, restaurant.restaurant.id, parties)
    return parties


def _in_range(moment_: datetime | None) -> bool:
    return moment_ is not None and START <= moment_ < END


def expected_counts(parties: list[Party]) -> dict[str, int]:
    """From the generated parties, not the database."""
    counts = Counter({"joined": sum(_in_range(party.joined) for party in parties)})
    counts["called"] = sum(_in_range(party.called) for party in parties)
    for party in parties:
        if party.status != "waiting" and _in_range(party.finished):
            counts[party.status] += 1
    return {kind: counts[kind] for kind in ("joined", "called", "seated", "no_show", "cancelled", "left")}


async def sql_counts(database: Database, restaurant: StaffRestaurant) -> dict[str, int]:
    """One plain count per type, written apart from the store's statement."""
    found = {}
    async with database.snapshot() as connection:
        for kind in ("joined", "called", "seated", "no_show", "cancelled", "left"):
            found[kind] = (
                await connection.execute(
                    text(
                        "SELECT count(*) FROM queue_event WHERE type = :type AND restaurant_id = :r"
                        " AND at >= :start AND at < :end"
                    ),
                    {
                        "type": kind,
                        "r": str(restaurant.restaurant.id),
                        "start": moment(connection, START),
                        "end": moment(connection, END),
                    },
                )
            ).scalar_one()
    return found


def within_the_minute(exact: float) -> object:
    return pytest.approx(exact, abs=PRECISION_MINUTES + 1e-9)


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[8]


async def test_the_counts_waits_and_quotes_of_a_month_equal_sql_and_the_generated_parties(
    database: Database, services: Services, restaurant: StaffRestaurant
) -> None:
    parties = await generate_month(database, restaurant)
    found = await services.analytics.location(
        restaurant_id=restaurant.restaurant.id, first=FIRST, last=LAST, zone=UTC_ZONE
    )
    report = found.report
    counts = dict(
        zip(
            ("joined", "called", "seated", "no_show", "cancelled", "left"),
            report.counts.as_tuple(),
            strict=True,
        )
    )
    assert counts == await sql_counts(database, restaurant) == expected_counts(parties)
    assert counts["joined"] > 500 and counts["left"] > 0 and counts["no_show"] > 0

    joined = [party for party in parties if _in_range(party.joined)]
    calls = [(party.called - party.joined).total_seconds() / 60 for party in joined if party.called]
    seats = [party.seat_wait for party in joined if party.seat_wait is not None]
    overall = report.waits.overall
    assert overall.parties == len(joined)
    # The location's own zone: read from the rollups' whole-minute histograms, within half a minute.
    assert report.waits.precision_minutes == PRECISION_MINUTES
    assert overall.call_median == within_the_minute(statistics.median(calls))
    assert overall.call_p90 == within_the_minute(p90(calls))
    assert overall.seat_median == within_the_minute(statistics.median(seats))
    assert overall.seat_p90 == within_the_minute(p90(seats))
    quoted = [party for party in joined if party.seat_wait is not None and party.quote]
    assert overall.quoted == len(quoted)
    assert overall.inside == sum(inside(party.seat_wait or 0, *(party.quote or (0, 0))) for party in quoted)

    by_hour = Counter(hour_of_week(party.joined, UTC_ZONE) for party in joined)
    assert {hour: stats.parties for hour, stats in report.waits.by_hour.items()} == by_hour
    sizes = Counter(party.size for party in joined)
    assert {size: stats.parties for size, stats in report.waits.by_party_size.items()} == sizes
    twos = [party.seat_wait for party in joined if party.size == 2 and party.seat_wait is not None]
    assert report.waits.by_party_size[2].seat_median == within_the_minute(statistics.median(twos))
    walk_aways = counts["left"] + counts["no_show"]
    assert report.counts.walk_away_rate == pytest.approx(walk_aways / counts["joined"])


async def test_the_overview_adds_up_its_locations(
    database: Database, services: Services, restaurant: StaffRestaurant
) -> None:
    other = await make_restaurant(database, slug="marios")
    first = await generate_month(database, restaurant, seed=1)
    second = await generate_month(database, other, seed=2)
    overview = await services.analytics.overview(
        restaurant_ids=[restaurant.restaurant.id, other.restaurant.id], first=FIRST, last=LAST, zone=UTC_ZONE
    )
    each = {place.slug: counts for place, counts in overview.locations}
    assert each["luigis"].joined == expected_counts(first)["joined"]
    assert each["marios"].joined == expected_counts(second)["joined"]
    assert overview.total.counts == each["luigis"] + each["marios"]
    assert overview.total.waits.overall.parties == each["luigis"].joined + each["marios"].joined


@pytest.fixture
async def staff_client(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> httpx.AsyncClient:
    await sign_in(client, await create_staff(database, "luigis", role=Role.MANAGER))
    return client


RANGE = f"from={FIRST.isoformat()}&to={LAST.isoformat()}"


async def test_the_page_and_the_api_show_the_counts_sql_gives(
    staff_client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    await generate_month(database, restaurant)
    expected = await sql_counts(database, restaurant)
    page = await staff_client.get(f"/staff/luigis/analytics?{RANGE}")
    assert page.status_code == 200
    shown = dict(re.findall(r'data-count="(\w+)">(\d+)<', page.text))
    assert {kind: int(shown[kind]) for kind in ("joined", "seated", "no_show", "cancelled", "left")} == {
        kind: expected[kind] for kind in ("joined", "seated", "no_show", "cancelled", "left")
    }
    assert page.text.count("<svg") == 3 and "<script" not in page.text.split("</head>")[1]
    api = await staff_client.get(f"{restaurant.admin}/analytics?{RANGE}", headers=restaurant.headers)
    assert api.status_code == 200
    body = api.json()
    assert {kind: body["counts"][kind] for kind in ("joined", "called", "seated", "cancelled", "left")} == {
        kind: expected[kind] for kind in ("joined", "called", "seated", "cancelled", "left")
    }
    assert body["counts"]["noShow"] == expected["no_show"]
    # Both say the waits' percentiles come from whole-minute histograms (the rollups).
    assert body["waitPrecisionMinutes"] == PRECISION_MINUTES
    assert f'data-wait-precision="{PRECISION_MINUTES}"' in page.text
    overview = await staff_client.get(f"/staff/luigis/analytics/overview?{RANGE}")
    assert overview.status_code == 200 and f">{expected['joined']}<" in overview.text


async def test_the_csv_exports_hold_the_ranges_entries_masked_and_its_events(
    staff_client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    parties = await generate_month(database, restaurant)
    answer = await staff_client.get(f"/staff/luigis/analytics/entries.csv?{RANGE}")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    joined = {party.token: party for party in parties if _in_range(party.joined)}
    assert [int(row["token_number"]) for row in rows] == sorted(joined)
    for row in rows:
        party = joined[int(row["token_number"])]
        full = f"+4477009{party.token:05d}"[:13]
        # Quoted as text: a cell that starts with + would be a formula to a spreadsheet.
        assert row["mobile"] == "'" + phone.mask(full) and full not in answer.text
        status = "cancelled" if party.status == "left" else party.status
        assert (row["status"], int(row["party_size"])) == (status, party.size)
    events = await staff_client.get(f"/staff/luigis/analytics/events.csv?{RANGE}")
    exported = list(csv.DictReader(io.StringIO(events.text)))
    async with database.snapshot() as connection:
        stored = (
            await connection.execute(
                text(
                    "SELECT seq, hash FROM queue_event WHERE restaurant_id = :r"
                    " AND at >= :start AND at < :end"
                    " ORDER BY at, seq"
                ),
                {
                    "r": str(restaurant.restaurant.id),
                    "start": moment(connection, START),
                    "end": moment(connection, END),
                },
            )
        ).all()
    assert [(int(row["seq"]), row["hash"]) for row in exported] == [(row.seq, row.hash) for row in stored]
    assert len(exported) > 1000  # more than one page of the export


async def test_analytics_need_the_locations_staff_and_a_sensible_range(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    assert (await client.get(f"{restaurant.admin}/analytics?{RANGE}")).status_code == 401
    page = await client.get(f"/staff/luigis/analytics?{RANGE}", follow_redirects=False)
    assert page.status_code in (303, 401)
    assert (await client.get(f"/staff/luigis/analytics/entries.csv?{RANGE}")).status_code in (303, 401)
    backwards = await client.get(
        f"{restaurant.admin}/analytics?from=2026-10-30&to=2026-10-01", headers=restaurant.headers
    )
    assert backwards.status_code == 422
    assert backwards.headers["content-type"].startswith("application/problem+json")
    too_long = await client.get(
        f"{restaurant.admin}/analytics?from=2024-01-01&to=2026-10-01", headers=restaurant.headers
    )
    assert too_long.status_code == 422
    garbage = await client.get(f"{restaurant.admin}/analytics?from=yesterday", headers=restaurant.headers)
    assert garbage.status_code == 422


async def test_days_and_hours_are_the_locations_own_in_its_time_zone(
    database: Database, services: Services, restaurant: StaffRestaurant
) -> None:
    """The range's bounds and the hours of the week are New York's (UTC-4 in October) on both databases:
    PostgreSQL's AT TIME ZONE and Python's zoneinfo agree."""
    parties = await generate_month(database, restaurant)
    zone = ZoneInfo("America/New_York")
    found = await services.analytics.location(
        restaurant_id=restaurant.restaurant.id, first=FIRST, last=LAST, zone=zone
    )
    start = datetime(2026, 10, 1, tzinfo=zone)
    end = datetime(2026, 10, 31, tzinfo=zone)
    joined = [party for party in parties if start <= party.joined < end]
    assert found.report.counts.joined == len(joined)
    by_hour = Counter(hour_of_week(party.joined, zone) for party in joined)
    assert {hour: stats.parties for hour, stats in found.report.waits.by_hour.items()} == by_hour


async def test_a_page_asked_for_a_backwards_range_says_so_and_exports_nothing(
    staff_client: httpx.AsyncClient,
) -> None:
    backwards = "from=2026-10-30&to=2026-10-01"
    for path in ("", "/overview", "/entries.csv", "/events.csv"):
        answer = await staff_client.get(f"/staff/luigis/analytics{path}?{backwards}")
        # Pages answer what they cannot read as "not found" (web/rendering.py); the API says 422.
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")
