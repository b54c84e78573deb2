"""The bench reads the event log of a finished history and has waitline's `verify` walk every chain in it:
an intact log is passed to the checker whole, an edited one is named with its bad seq, and only the events
after the history's start are judged."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from bench.checker import FinalState
from bench.final_state import postgres_final_state, sqlite_final_state

from tests.conftest import StaffRestaurant
from tests.test_event_log_tampering import six_events, tamper
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio


async def final_state(database_url: str, since: dict[str, int] | None = None) -> FinalState:
    if database_url.startswith("sqlite"):
        return await sqlite_final_state(Path(database_url.removeprefix("sqlite:///")), since=since)
    return await postgres_final_state(database_url, since=since)


async def test_an_intact_log_is_read_whole_with_no_broken_chain(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database_url: str
) -> None:
    await six_events(client, restaurant)

    state = await final_state(database_url)

    assert state.broken_chains == {}
    assert state.events is not None
    assert [(event.seq, event.type) for event in state.events] == [
        (1, "joined"), (2, "joined"), (3, "joined"), (4, "joined"), (5, "called"), (6, "seated"),
    ]  # fmt: skip


async def test_an_event_edited_by_hand_is_named_by_its_restaurant_and_seq(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database, database_url: str
) -> None:
    await six_events(client, restaurant)
    await tamper(database, "UPDATE queue_event SET reason = 'staff said so' WHERE seq = 3")

    state = await final_state(database_url)

    assert list(state.broken_chains) == ["luigis"]
    assert state.broken_chains["luigis"].startswith("seq 3:")


async def test_only_the_events_after_the_historys_start_are_judged(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database_url: str
) -> None:
    await six_events(client, restaurant)

    state = await final_state(database_url, since={str(restaurant.restaurant.id): 4})

    assert state.events is not None
    assert [event.seq for event in state.events] == [5, 6]


async def test_a_schema_without_the_log_is_read_without_it(pg_database_url: str) -> None:
    state = await postgres_final_state(pg_database_url, event_log=False)

    assert state.events is None
    assert state.broken_chains == {}
