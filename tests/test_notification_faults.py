"""The provider fails, times out or goes away for a while: messages still go out, in order, none twice; past
the bound they are failed with the reason; a worker that dies mid-send leaves no duplicate behind."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import pytest

from tests.conftest import make_restaurant
from tests.notify_helpers import FAST, drain, join, notifier, outbox_rows, twilio
from tests.twilio_standin import TwilioStandIn, twilio_standin
from waitline.domain.message import SendResult
from waitline.services import Services
from waitline.services.notifier import Notifier
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    with twilio_standin() as standin:
        yield standin


@pytest.mark.parametrize("mode", ["500", "429", "timeout"])
async def test_provider_down_then_back_all_go_out_in_order_none_twice(
    database: Database, services: Services, standin: TwilioStandIn, mode: str
) -> None:
    await make_restaurant(database)
    standin.hang_seconds = 1.5  # past the client's 1 s timeout; the stand-in keeps what it accepted
    standin.fail(mode, times=4)
    for i in range(8):
        await join(services, i)

    async with notifier(database, standin) as worker:
        await drain(worker)

    accepted = standin.accepted
    bodies = [(r.to, r.body) for r in accepted]
    assert len(bodies) == len(set(bodies)) == 8  # every one, none twice (a timed-out send was accepted)
    assert [r.to for r in accepted] == [f"+1415555{i:04d}" for i in range(8)]  # in the order they joined
    rows = await outbox_rows(database)
    assert {row["state"] for row in rows} == {"sent"}
    # The failures fell on the first message only: the worker waited instead of trying the ones behind it.
    assert [row["attempts"] for row in rows][1:] == [1] * 7
    sids = {r.accepted_sid for r in accepted}
    assert {row["provider_id"] for row in rows} == sids


async def test_past_the_bound_a_message_is_failed_with_the_reason(
    database: Database, services: Services, standin: TwilioStandIn
) -> None:
    await make_restaurant(database)
    standin.fail("500")
    await join(services, 1)

    async with notifier(database, standin, dataclasses.replace(FAST, max_attempts=3)) as worker:
        await drain(worker)

    [row] = await outbox_rows(database)
    assert row["state"] == "failed"
    assert row["attempts"] == 3
    assert row["reason"] == "gave up after 3 attempts: 500 from the provider"
    assert standin.accepted == []
    assert len(standin.received) == 3


async def test_a_number_the_provider_refuses_is_failed_at_once_with_its_error(
    database: Database, services: Services, standin: TwilioStandIn
) -> None:
    await make_restaurant(database)
    await join(services, 1)
    account = dataclasses.replace(twilio(standin)._account, auth_token="wrong")
    from waitline.sms import TwilioSms

    worker = Notifier(database=database, sms=TwilioSms(account, timeout_seconds=1), policy=FAST)
    try:
        await drain(worker)
    finally:
        await worker.close()

    [row] = await outbox_rows(database)
    assert row["state"] == "failed"
    assert row["reason"] == "401 twilio error 20003: Authenticate"


class DiesAfterTheAnswer:
    """A channel whose process dies between the provider's answer and the record: the send happens, then the
    worker is gone (cancelled) before it can write down the SID."""

    def __init__(self, inner: object) -> None:
        self._inner = inner

    async def send(self, *, to: str, body: str) -> SendResult:
        await self._inner.send(to=to, body=body)  # type: ignore[attr-defined]
        raise asyncio.CancelledError

    async def find_sent(self, **kwargs: object) -> object:
        return await self._inner.find_sent(**kwargs)  # type: ignore[attr-defined]

    async def close(self) -> None:
        await self._inner.close()  # type: ignore[attr-defined]


async def test_a_worker_that_dies_after_the_provider_answered_causes_no_second_text(
    database: Database, services: Services, standin: TwilioStandIn
) -> None:
    """CONCURRENCY_DESIGN.md section 10: the next worker finds the message in doubt, asks the provider, finds
    it there and records it as sent, without sending it again."""
    await make_restaurant(database)
    await join(services, 1)
    await join(services, 2)
    short = dataclasses.replace(FAST, lease_seconds=1.5, send_timeout_seconds=0.2)
    dying = Notifier(database=database, sms=DiesAfterTheAnswer(twilio(standin)), policy=short)  # type: ignore[arg-type]
    with pytest.raises(asyncio.CancelledError):
        await dying.run_once()
    await dying.close()
    assert len(standin.accepted) == 1
    rows = await outbox_rows(database)
    assert [row["state"] for row in rows] == ["sending", "pending"]  # the untried one was handed back

    await asyncio.sleep(1.6)  # the dead worker's lease runs out
    async with notifier(database, standin, short) as worker:
        await drain(worker)

    accepted = standin.accepted
    assert [r.to for r in accepted] == ["+14155550001", "+14155550002"]  # each once
    rows = await outbox_rows(database)
    assert [row["state"] for row in rows] == ["sent", "sent"]
    assert rows[0]["provider_id"] == accepted[0].accepted_sid
    assert rows[0]["attempts"] == 0  # recorded from the provider's list, not sent again


async def test_a_live_worker_never_sends_what_another_holds(
    database: Database, services: Services, standin: TwilioStandIn
) -> None:
    await make_restaurant(database)
    for i in range(30):
        await join(services, i)
    standin.delay_seconds = 0.01
    async with notifier(database, standin) as first, notifier(database, standin) as second:
        await asyncio.gather(drain(first), drain(second))
    bodies = [(r.to, r.body) for r in standin.accepted]
    assert len(bodies) == len(set(bodies)) == 30
