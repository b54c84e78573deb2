"""Two `waitline worker` processes share the outbox; one is SIGKILLed in the middle of a batch and a third
starts. A checker over the Twilio stand-in's record finds every due message sent, and none sent twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LIMITS_OFF, make_restaurant
from tests.notify_helpers import join, outbox_rows
from tests.twilio_standin import TwilioStandIn, twilio_standin
from waitline.services import Services
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio

MESSAGES = 40


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    with twilio_standin() as standin:
        standin.delay_seconds = 0.03  # a batch takes a while: the kill lands inside one
        yield standin


def start_worker(database_url: str, standin: TwilioStandIn, log: Path) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        **LIMITS_OFF,
        **standin.env(),
        "WAITLINE_DATABASE_URL": database_url,
        "WAITLINE_NOTIFY_LEASE_SECONDS": "3",
        "WAITLINE_TWILIO_TIMEOUT_SECONDS": "0.5",
        "WAITLINE_NOTIFY_BATCH": "5",
        "WAITLINE_NOTIFY_POLL_SECONDS": "0.1",
        "WAITLINE_NOTIFY_BACKOFF_SECONDS": "0.05",
        "WAITLINE_LOG_JSON": "true",
    }
    return worker_process(environment, log)


def worker_process(environment: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``waitline worker`` with ``environment`` (without the test session's metrics directory)."""
    environment = {name: value for name, value in environment.items() if name != "PROMETHEUS_MULTIPROC_DIR"}
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "waitline", "worker"],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


async def wait_for(condition: object, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_worker_killed_mid_batch_leaves_every_message_sent_once(
    database_url: str, database: Database, services: Services, standin: TwilioStandIn, tmp_path: Path
) -> None:
    await make_restaurant(database)
    for i in range(MESSAGES):
        await join(services, i)

    workers = [start_worker(database_url, standin, tmp_path / f"worker-{n}.log") for n in range(2)]
    try:

        async def some_sent() -> bool:
            return len(standin.accepted) >= 10

        await wait_for(some_sent, 60, "the first texts")
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()
        held = [row for row in await outbox_rows(database) if row["state"] == "sending"]
        workers.append(start_worker(database_url, standin, tmp_path / "worker-2.log"))

        async def all_settled() -> bool:
            return all(row["state"] == "sent" for row in await outbox_rows(database))

        await wait_for(all_settled, 90, "every message to be sent")
    finally:
        for process in workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
    # The checker: over the stand-in's record, every message due arrived, and none twice.
    rows = await outbox_rows(database)
    assert len(rows) == MESSAGES
    arrived = Counter((r.to, r.body) for r in standin.accepted)
    assert len(arrived) == MESSAGES
    assert [pair for pair, times in arrived.items() if times > 1] == []
    assert {row["provider_id"] for row in rows} == {r.accepted_sid for r in standin.accepted}
    assert held, "the kill landed outside a batch: nothing was held when the worker died"
