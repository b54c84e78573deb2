"""The wait each party is quoted when it joins: recorded on its entry, calibrated from the location's own
history when there is enough of it (else the pace method), shown on the guest's page, and the coverage the
quotes achieved exported as a metric."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from bench import history
from bench.history import Party
from fastapi import FastAPI
from sqlalchemy import text

from tests.conftest import CLIENT_IP, StaffRestaurant, join_body
from tests.test_metrics import scrape, value
from waitline.config import Settings
from waitline.domain import ServiceUnavailable
from waitline.services import Services, estimates
from waitline.services.outcomes import Outcome
from waitline.store import analytics
from waitline.store.engine import Database, open_database
from waitline.web.app import create_app

pytestmark = pytest.mark.anyio


async def quote_of(database: Database, entry_id: str) -> tuple[int | None, int | None, int | None]:
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


class Recorded:
    """An observer that keeps every outcome."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    def observe(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)


async def join(services: Services, restaurant: StaffRestaurant, index: int = 0) -> str:
    joined = await services.queue.join(
        slug=restaurant.restaurant.slug,
        name=f"Guest {index}",
        mobile=f"+1415555{index:04d}",
        party_size=2,
        idempotency_key=None,
        client_ip=CLIENT_IP,
    )
    assert joined.created
    return str(joined.entry.id)


async def test_a_new_locations_joins_record_their_place_and_the_pace_methods_quote(
    app: FastAPI, client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    ids = []
    for index in range(3):
        answer = await client.post(f"{restaurant.public}/queue", json=join_body(index))
        assert answer.status_code == 201
        ids.append(answer.json()["id"])
    await app.state.services.estimates.flush()
    # No history: "about 5 min" a party ahead (waitline.wait_estimate's default pace).
    assert [await quote_of(database, entry_id) for entry_id in ids] == [(1, 5, 5), (2, 10, 10), (3, 15, 15)]


async def write_history(settings: Settings, restaurant: StaffRestaurant, parties: list[Party]) -> None:
    """Write 7 weeks of parties in one transaction, given a minute: on a loaded machine it can take over the
    app's 5 s transaction timeout."""
    database = open_database(settings.model_copy(update={"transaction_timeout_seconds": 60.0}))
    try:
        async with database.transaction() as connection:
            await history.write(connection, restaurant.restaurant.id, parties)
    finally:
        await database.dispose()


def _quote(party: Party) -> tuple[int, int]:
    return party.position * 2, party.position * 4 + 5


async def test_with_history_a_join_is_quoted_a_calibrated_range_and_the_coverage_is_a_metric(
    settings: Settings,
    app: FastAPI,
    client: httpx.AsyncClient,
    database: Database,
    restaurant: StaffRestaurant,
) -> None:
    today = datetime.now(UTC).date()
    parties = history.simulate(
        first_day=today - timedelta(days=50), days=49, parties_per_day=80, seed=5, quote=_quote
    )
    await write_history(settings, restaurant, parties)
    answer = await client.post(f"{restaurant.public}/queue", json=join_body(1, partySize=2))
    assert answer.status_code == 201
    entry_id = answer.json()["id"]
    # The background step learns the location first (the join asked for it), then quotes the join.
    await app.state.services.estimates.flush()
    position, low, high = await quote_of(database, entry_id)
    assert position == 1 and low is not None and high is not None and 0 <= low < high
    page = await client.get(f"/{restaurant.restaurant.slug}/e/{entry_id}")
    assert f"about {low}–{high} min" in page.text
    quoted = [party for party in parties if party.seat_wait is not None]
    held = sum(low <= int(party.seat_wait + 0.5) <= high for party in quoted for low, high in [_quote(party)])
    samples = await scrape(client)
    coverage = value(samples, "waitline_wait_quote_coverage", restaurant_id=str(restaurant.restaurant.id))
    assert coverage == pytest.approx(held / len(quoted))


async def test_a_quote_that_cannot_be_recorded_never_fails_the_join_and_is_counted(
    database: Database, restaurant: StaffRestaurant, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unavailable(**_: object) -> None:
        raise ServiceUnavailable()

    recorded = Recorded()
    services = Services(database=database, observer=recorded)
    monkeypatch.setattr(analytics, "record_quotes", unavailable)
    entry_id = await join(services, restaurant)
    await services.estimates.flush()  # the batch fails: logged and counted, never raised
    assert await quote_of(database, entry_id) == (None, None, None)
    failed = [outcome for outcome in recorded.outcomes if outcome.action == "quote"]
    assert [(outcome.result, outcome.fields["quotes"]) for outcome in failed] == [("unavailable", 1)]


async def test_a_join_answers_before_its_quote_is_written_and_a_batch_writes_the_queued_quotes(
    services: Services, database: Database, restaurant: StaffRestaurant
) -> None:
    ids = [await join(services, restaurant, index) for index in range(3)]
    # Answered, and nothing written for the quote yet: the join did not wait for it.
    assert [await quote_of(database, entry_id) for entry_id in ids] == [(None, None, None)] * 3
    await services.estimates.flush()
    assert [await quote_of(database, entry_id) for entry_id in ids] == [(1, 5, 5), (2, 10, 10), (3, 15, 15)]


async def test_quotes_still_queued_when_the_app_stops_are_written_before_it_stops(
    settings: Settings, database: Database, restaurant: StaffRestaurant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The background step never comes round on its own: only the stop can write these quotes.
    monkeypatch.setattr(estimates, "FLUSH_SECONDS", 3600.0)
    app = create_app(settings)
    ids = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://waitline.test") as client:
            for index in range(3):
                answer = await client.post(f"{restaurant.public}/queue", json=join_body(index))
                assert answer.status_code == 201
                ids.append(answer.json()["id"])
        assert [await quote_of(database, entry_id) for entry_id in ids] == [(None, None, None)] * 3
    assert [await quote_of(database, entry_id) for entry_id in ids] == [(1, 5, 5), (2, 10, 10), (3, 15, 15)]


async def test_a_location_is_quoted_by_pace_until_learnt_in_the_background_then_served_what_was_learnt(
    settings: Settings, database: Database, restaurant: StaffRestaurant, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    parties = history.simulate(
        first_day=now.date() - timedelta(days=50), days=49, parties_per_day=80, seed=5, quote=_quote
    )
    await write_history(settings, restaurant, parties)
    recorded = Recorded()
    services = Services(database=database, observer=recorded)
    restaurant_id = restaurant.restaurant.id

    async def quoted(at: datetime) -> bool:
        found = await services.estimates.estimate(
            restaurant_id=restaurant_id, position=3, party_size=2, call_times=[], now=at
        )
        return found.calibrated

    # Cold: the request is answered by pace at once, and the location is now due to be learnt.
    assert not await quoted(now)
    await services.estimates.flush(now=now)
    assert await quoted(now)

    # Due again, the history unreadable: requests never read it, and are served the last calibration learnt.
    async def unreadable(**_: object) -> None:
        raise ServiceUnavailable()

    monkeypatch.setattr(analytics, "samples", unreadable)
    later = now + estimates.REFRESH
    assert await quoted(later)
    await services.estimates.flush(now=later)
    assert await quoted(later)
    learnt = [outcome.result for outcome in recorded.outcomes if outcome.action == "calibrate"]
    assert learnt == ["done", "unavailable"]
