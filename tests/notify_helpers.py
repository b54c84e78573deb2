"""What the notification tests share: a worker pointed at the Twilio stand-in, and a drain of the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text

from tests.conftest import CLIENT_IP
from tests.twilio_standin import ACCOUNT_SID, AUTH_TOKEN, FROM, TwilioStandIn
from waitline.domain import Entry
from waitline.services import Services
from waitline.services.notifier import Notifier, WorkerPolicy
from waitline.sms import TwilioAccount, TwilioSms
from waitline.store.engine import Database

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
                "SELECT id, entry_id, kind, state, attempts, recipient, provider_id, reason, sent_at "
                "FROM outbox ORDER BY id"
            )
        )
        return [dict(row) for row in result.mappings()]


async def join(services: Services, index: int, slug: str = "luigis") -> Entry:
    joined = await services.queue.join(
        slug=slug,
        name=f"Guest {index}",
        mobile=f"+1415555{index:04d}",
        party_size=2,
        idempotency_key=None,
        client_ip=CLIENT_IP,
    )
    return joined.entry
