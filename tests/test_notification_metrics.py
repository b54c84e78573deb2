"""In the app: the worker runs in-process, a join never waits on the provider, and /metrics counts messages
and exports the outbox's age."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import join_body, make_restaurant
from tests.notify_helpers import outbox_rows, standin, texting_client
from tests.twilio_standin import TwilioStandIn
from waitline.store.engine import Database

__all__ = ["standin", "texting_client"]  # fixtures

pytestmark = pytest.mark.anyio


async def eventually(check: object, what: str) -> None:
    for _ in range(200):
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(what)


async def test_the_in_process_worker_texts_and_metrics_count_it(
    database: Database, texting_client: httpx.AsyncClient, standin: TwilioStandIn
) -> None:
    restaurant = await make_restaurant(database)
    assert (await texting_client.post(f"{restaurant.public}/queue", json=join_body(1))).status_code == 201

    async def sent() -> bool:
        return [row["state"] for row in await outbox_rows(database)] == ["sent"]

    await eventually(sent, "the joined text was not sent")
    metrics = (await texting_client.get("/metrics")).text
    assert 'waitline_messages_total{channel="sms",outcome="sent",type="joined"} 1.0' in metrics
    assert "waitline_outbox_oldest_age_seconds " in metrics
    assert len(standin.accepted) == 1


async def test_a_join_does_not_wait_for_a_provider_that_hangs(
    database: Database, texting_client: httpx.AsyncClient, standin: TwilioStandIn
) -> None:
    restaurant = await make_restaurant(database)
    standin.fail("timeout")
    standin.hang_seconds = 3.0  # past the 2 s client timeout
    assert (await texting_client.post(f"{restaurant.public}/queue", json=join_body(1))).status_code == 201

    async def hanging() -> bool:
        return standin.answering == 1

    await eventually(hanging, "the worker never reached the provider")
    # The provider is holding the worker's request: joins are answered all the same.
    for index in range(2, 6):
        response = await texting_client.post(f"{restaurant.public}/queue", json=join_body(index))
        assert response.status_code == 201
    assert standin.answering == 1
