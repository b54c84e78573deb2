"""In the app: the worker runs in-process, a join never waits on the provider, and /metrics counts messages
and exports the outbox's age."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from tests.conftest import join_body, make_restaurant
from tests.notify_helpers import outbox_rows
from tests.twilio_standin import ACCOUNT_SID, AUTH_TOKEN, FROM, TwilioStandIn, twilio_standin
from waitline.config import Settings
from waitline.store.engine import Database
from waitline.web.app import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    with twilio_standin() as standin:
        yield standin


@pytest.fixture
async def texting_client(settings: Settings, standin: TwilioStandIn) -> AsyncIterator[httpx.AsyncClient]:
    configured = settings.model_copy(
        update={
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "twilio_from": FROM,
            "twilio_api_url": standin.base_url,
            "twilio_timeout_seconds": 2.0,
            "notify_poll_seconds": 0.1,
            "notify_backoff_seconds": 0.05,
        }
    )
    app: FastAPI = create_app(configured)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://waitline.test") as client:
            yield client


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
