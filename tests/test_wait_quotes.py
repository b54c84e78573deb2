"""The wait each party is quoted when it joins: recorded on its entry, calibrated from the location's own
history when there is enough of it (else the pace method), shown on the guest's page, and the coverage the
quotes achieved exported as a metric."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from bench import history
from bench.history import Party
from sqlalchemy import text

from tests.conftest import CLIENT_IP, StaffRestaurant, join_body
from tests.test_metrics import scrape, value
from waitline.domain import ServiceUnavailable
from waitline.services import Services
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio


async def quote_of(database: Database, entry_id: str) -> tuple[int, int, int]:
    async with database.snapshot() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT position_at_join, quoted_low_minutes, quoted_high_minutes FROM queue_entry"
                    " WHERE id = :id"
                ),
                {"id": entry_id},
            )
        ).one()
    return row.position_at_join, row.quoted_low_minutes, row.quoted_high_minutes


async def test_a_new_locations_joins_record_their_place_and_the_pace_methods_quote(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    ids = []
    for index in range(3):
        answer = await client.post(f"{restaurant.public}/queue", json=join_body(index))
        assert answer.status_code == 201
        ids.append(answer.json()["id"])
    # No history: "about 5 min" a party ahead (waitline.wait_estimate's default pace).
    assert [await quote_of(database, entry_id) for entry_id in ids] == [(1, 5, 5), (2, 10, 10), (3, 15, 15)]


def _quote(party: Party) -> tuple[int, int]:
    return party.position * 2, party.position * 4 + 5


async def test_with_history_a_join_is_quoted_a_calibrated_range_and_the_coverage_is_a_metric(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    today = datetime.now(UTC).date()
    parties = history.simulate(
        first_day=today - timedelta(days=50), days=49, parties_per_day=80, seed=5, quote=_quote
    )
    async with database.transaction() as connection:
        await history.write(connection, restaurant.restaurant.id, parties)
    answer = await client.post(f"{restaurant.public}/queue", json=join_body(1, partySize=2))
    assert answer.status_code == 201
    entry_id = answer.json()["id"]
    position, low, high = await quote_of(database, entry_id)
    assert position == 1 and 0 <= low < high
    page = await client.get(f"/{restaurant.restaurant.slug}/e/{entry_id}")
    assert f"about {low}–{high} min" in page.text
    quoted = [party for party in parties if party.seat_wait is not None]
    held = sum(low <= int(party.seat_wait + 0.5) <= high for party in quoted for low, high in [_quote(party)])
    samples = await scrape(client)
    coverage = value(samples, "waitline_wait_quote_coverage", restaurant_id=str(restaurant.restaurant.id))
    assert coverage == pytest.approx(held / len(quoted))


async def test_a_quote_that_cannot_be_recorded_never_fails_the_join_that_committed(
    services: Services, restaurant: StaffRestaurant, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unavailable(**_: object) -> None:
        raise ServiceUnavailable()

    monkeypatch.setattr(services.estimates, "record_quote", unavailable)
    joined = await services.queue.join(
        slug=restaurant.restaurant.slug,
        name="Ada",
        mobile="+14155550123",
        party_size=2,
        idempotency_key=None,
        client_ip=CLIENT_IP,
    )
    assert joined.created and joined.entry.position == 1
