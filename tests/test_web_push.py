"""Web push through the outbox and the worker, to a local push endpoint that checks the VAPID JWT and
decrypts the aes128gcm payload with the subscription's private key."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.conftest import make_restaurant
from tests.notify_helpers import FAST, drain, join, twilio
from tests.push_endpoint import PushEndpoint, push_endpoint
from tests.twilio_standin import TwilioStandIn, twilio_standin
from tests.web_helpers import csrf_token
from waitline.config import Settings
from waitline.domain import SYSTEM
from waitline.push import Subscription, WebPush, public_key
from waitline.services import Services
from waitline.services.notifier import Notifier, _Pause
from waitline.services.pushes import Pushes
from waitline.store.engine import Database
from waitline.web.app import create_app

pytestmark = pytest.mark.anyio
CONTACT = "mailto:queue@luigis.example"


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    with twilio_standin() as standin:
        yield standin


@pytest.fixture
def endpoint() -> Iterator[PushEndpoint]:
    with push_endpoint() as endpoint:
        yield endpoint


async def _drain(database: Database, standin: TwilioStandIn) -> None:
    web_push = WebPush(
        private_key=Pushes(database=database).private_key, subject=CONTACT, timeout_seconds=2.0
    )
    worker = Notifier(database=database, sms=twilio(standin), policy=FAST, push=web_push)
    try:
        await drain(worker)
    finally:
        await worker.close()


async def _push_rows(database: Database) -> list[dict[str, Any]]:
    async with database.snapshot() as connection:
        result = await connection.execute(
            text("SELECT kind, state, attempts, reason FROM outbox WHERE channel = 'push' ORDER BY id")
        )
        return [dict(row) for row in result.mappings()]


async def test_a_subscribed_guest_is_pushed_table_ready_signed_and_encrypted(
    database: Database, services: Services, standin: TwilioStandIn, endpoint: PushEndpoint
) -> None:
    restaurant = (await make_restaurant(database)).restaurant
    ada = await join(services, 0)
    assert await services.pushes.subscribe(
        slug="luigis", entry_id=ada.id, subscription=endpoint.subscription()
    )
    await services.queue.call_next(restaurant_id=restaurant.id, max_party_size=None, actor=SYSTEM)
    await _drain(database, standin)

    assert endpoint.refused == []
    (push,) = endpoint.received
    assert push["title"] == "Luigis: your table is ready"
    assert push["body"].startswith("Luigis: your table is ready, Guest 0 (number 1).")
    assert push["url"] == f"https://queue.example.com/luigis/e/{ada.id}"
    assert push["sub"] == CONTACT
    # Signed with the key the status page hands out, made once and kept.
    assert push["key"] == await services.pushes.public_key()
    assert push["key"] == public_key(await Pushes(database=database).private_key())
    assert [(r["kind"], r["state"]) for r in await _push_rows(database)] == [
        ("table_ready", "sent"),
        ("reminder", "pending"),
    ]


async def test_a_gone_subscription_fails_the_push_with_the_reason(
    database: Database, services: Services, standin: TwilioStandIn, endpoint: PushEndpoint
) -> None:
    restaurant = (await make_restaurant(database)).restaurant
    ada = await join(services, 0)
    await services.pushes.subscribe(slug="luigis", entry_id=ada.id, subscription=endpoint.subscription())
    endpoint.status = 410
    await services.queue.call_next(restaurant_id=restaurant.id, max_party_size=None, actor=SYSTEM)
    await _drain(database, standin)
    (row, _reminder) = await _push_rows(database)
    assert (row["state"], row["reason"]) == ("failed", "push 410: subscription gone")


async def test_a_guest_who_left_cannot_subscribe(database: Database, services: Services) -> None:
    await make_restaurant(database)
    ada = await join(services, 0)
    await services.queue.leave(slug="luigis", entry_id=ada.id)
    with push_endpoint() as endpoint:
        assert not await services.pushes.subscribe(
            slug="luigis", entry_id=ada.id, subscription=endpoint.subscription()
        )


@pytest.fixture
async def push_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings.model_copy(update={"web_push": True, "notify_in_process": False}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def _json(subscription: Subscription) -> dict[str, Any]:
    return {
        "endpoint": subscription.endpoint,
        "expirationTime": None,
        "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
    }


async def test_the_service_worker_is_served_at_the_root(push_client: httpx.AsyncClient) -> None:
    response = await push_client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert 'addEventListener("push"' in response.text


async def test_a_guest_opts_in_from_the_status_page_and_is_pushed_when_called(
    push_client: httpx.AsyncClient, database: Database, standin: TwilioStandIn, endpoint: PushEndpoint
) -> None:
    restaurant = (await make_restaurant(database)).restaurant
    joined = await push_client.post(
        "/api/public/luigis/queue", json={"name": "Ada", "mobileNumber": "+14155550101", "partySize": 2}
    )
    entry_id = joined.json()["id"]
    page = await push_client.get(f"/luigis/e/{entry_id}")
    assert 'id="push-opt-in"' in page.text
    key = page.text.split('data-push-key="', 1)[1].split('"', 1)[0]
    url = f"/luigis/e/{entry_id}/push"
    body = _json(endpoint.subscription())

    assert (await push_client.post(url, json=body)).status_code == 403  # no CSRF token
    token = {"X-CSRF-Token": csrf_token(page.text)}
    bad = await push_client.post(url, json={**body, "endpoint": "javascript:alert(1)"}, headers=token)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert (await push_client.post(url, json=body, headers=token)).status_code == 204

    services = Services(database=database)
    await services.queue.call_next(restaurant_id=restaurant.id, max_party_size=None, actor=SYSTEM)
    await _drain(database, standin)
    (push,) = endpoint.received
    assert push["title"] == "Luigis: your table is ready"
    assert push["key"] == key  # signed with the key the page gave the browser


async def test_a_busy_push_service_is_retried_until_the_push_goes(
    database: Database, services: Services, standin: TwilioStandIn, endpoint: PushEndpoint
) -> None:
    restaurant = (await make_restaurant(database)).restaurant
    ada = await join(services, 0)
    await services.pushes.subscribe(slug="luigis", entry_id=ada.id, subscription=endpoint.subscription())
    endpoint.status = 503
    await services.queue.call_next(restaurant_id=restaurant.id, max_party_size=None, actor=SYSTEM)
    web_push = WebPush(
        private_key=Pushes(database=database).private_key, subject=CONTACT, timeout_seconds=2.0
    )
    worker = Notifier(database=database, sms=twilio(standin), policy=FAST, push=web_push)
    try:
        with contextlib.suppress(_Pause):
            for _ in range(3):  # the text first, then the push's first attempt
                await worker.run_once()
        row = (await _push_rows(database))[0]
        assert (row["state"], row["attempts"], row["reason"]) == ("pending", 1, "push 503")
        endpoint.status = 201
        await drain(worker)
    finally:
        await worker.close()
    row = (await _push_rows(database))[0]
    assert (row["state"], row["attempts"]) == ("sent", 2)
    assert [push["title"] for push in endpoint.received] == ["Luigis: your table is ready"]
