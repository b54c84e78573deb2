"""What the notification tests share: a worker pointed at the Twilio stand-in, and a drain of the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text

from tests.conftest import CLIENT_IP
from tests.twilio_standin import ACCOUNT_SID, AUTH_TOKEN, FROM, TwilioStandIn, twilio_standin
from waitline.config import Settings
from waitline.domain import Entry
from waitline.services import Services
from waitline.services.notifier import Notifier, WorkerPolicy
from waitline.sms import TwilioAccount, TwilioSms
from waitline.store.engine import Database
from waitline.web.app import create_app

FAST = WorkerPolicy(
    batch=10,
    lease_seconds=30,
    send_timeout_seconds=1.0,
    poll_seconds=0.05,
    max_attempts=10,
    backoff_seconds=0.01,
    backoff_max_seconds=0.05,
    public_url="https://queue.example.com",
)


def twilio(standin: TwilioStandIn, *, timeout_seconds: float = 1.0) -> TwilioSms:
    account = TwilioAccount(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, sender=FROM, api_url=standin.base_url
    )
    return TwilioSms(account, timeout_seconds=timeout_seconds)


@asynccontextmanager
async def notifier(
    database: Database, standin: TwilioStandIn, policy: WorkerPolicy = FAST
) -> AsyncIterator[Notifier]:
    sms = twilio(standin, timeout_seconds=policy.send_timeout_seconds)
    worker = Notifier(database=database, sms=sms, policy=policy)
    try:
        yield worker
    finally:
        await worker.close()


async def drain(worker: Notifier, *, rounds: int = 200) -> None:
    """Run the worker until nothing is due (pauses for backoff included)."""
    import asyncio

    from waitline.services.notifier import _Pause

    idle = 0
    for _ in range(rounds):
        try:
            claimed = await worker.run_once()
        except _Pause as pause:
            await asyncio.sleep(pause.seconds)
            continue
        if claimed:
            idle = 0
            continue
        idle += 1
        if idle >= 2:
            return
        await asyncio.sleep(0.06)
    raise AssertionError("the outbox did not drain")


async def outbox_rows(database: Database) -> list[dict[str, Any]]:
    async with database.snapshot() as connection:
        result = await connection.execute(
            text(
                "SELECT id, entry_id, kind, channel, state, attempts, recipient, provider_id, reason, sent_at"
                " "
                "FROM outbox ORDER BY id"
            )
        )
        return [dict(row) for row in result.mappings()]


async def join(
    services: Services,
    index: int,
    slug: str = "luigis",
    *,
    email: str | None = None,
    language: str | None = None,
) -> Entry:
    joined = await services.queue.join(
        slug=slug,
        name=f"Guest {index}",
        mobile=f"+1415555{index:04d}",
        party_size=2,
        idempotency_key=None,
        client_ip=CLIENT_IP,
        email=email,
        language=language,
    )
    return joined.entry


PUBLIC_URL = "https://queue.example.com"


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
            "public_url": PUBLIC_URL,
            "notify_poll_seconds": 0.1,
            "notify_backoff_seconds": 0.05,
        }
    )
    app: FastAPI = create_app(configured)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
            yield client
