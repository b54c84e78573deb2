"""A `waitline worker` process is SIGKILLed while the SMTP server holds its answer to DATA (the email may or
may not have been taken); after a restart the email goes out: at least once, never lost
(CONCURRENCY_DESIGN.md section 17), and with the same Message-ID each time."""

from __future__ import annotations

import asyncio
import email
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import Message as MailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP

from tests.conftest import LIMITS_OFF, make_restaurant
from tests.notify_helpers import join, outbox_rows
from tests.test_notification_workers_killed import wait_for, worker_process
from waitline.services import Services
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio


@dataclass
class HoldingInbox:
    """An SMTP server that keeps each email it is given and, while ``holding``, never answers the DATA."""

    holding: bool = True
    received: list[MailMessage] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(email.message_from_bytes(envelope.content))
        if self.holding:
            await self.released.wait()
        return "250 OK"


@pytest.fixture
async def inbox() -> AsyncIterator[tuple[HoldingInbox, int]]:
    handler = HoldingInbox()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(handler), host="127.0.0.1", port=0)
    try:
        yield handler, int(server.sockets[0].getsockname()[1])
    finally:
        handler.released.set()
        server.close()
        await server.wait_closed()


def start_worker(database_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        **LIMITS_OFF,
        "WAITLINE_DATABASE_URL": database_url,
        "WAITLINE_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "WAITLINE_MAIL_FROM": "queue@luigis.example",
        # A send may take 5 s; a claim is held 12 s, then another worker may take the message (in doubt).
        "WAITLINE_TWILIO_TIMEOUT_SECONDS": "5",
        "WAITLINE_NOTIFY_LEASE_SECONDS": "12",
        "WAITLINE_NOTIFY_POLL_SECONDS": "0.1",
        "WAITLINE_NOTIFY_BACKOFF_SECONDS": "0.05",
        "WAITLINE_LOG_JSON": "true",
    }
    environment.pop("WAITLINE_TWILIO_ACCOUNT_SID", None)
    return worker_process(environment, log)


async def test_a_worker_killed_while_the_smtp_server_holds_its_answer_sends_the_email_after_a_restart(
    database_url: str,
    database: Database,
    services: Services,
    inbox: tuple[HoldingInbox, int],
    tmp_path: Path,
) -> None:
    handler, port = inbox
    await make_restaurant(database)
    await join(services, 0, email="ada@example.com")

    first = start_worker(database_url, port, tmp_path / "worker-1.log")
    try:

        async def data_sent() -> bool:
            return len(handler.received) == 1

        await wait_for(data_sent, 60, "the worker to send the email's DATA")
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    (held,) = [row for row in await outbox_rows(database) if row["channel"] == "email"]
    assert held["state"] == "sending"  # the worker died holding it: its fate unknown to the outbox

    handler.holding = False
    second = start_worker(database_url, port, tmp_path / "worker-2.log")
    try:

        async def sent() -> bool:
            rows = await outbox_rows(database)
            return [row["state"] for row in rows if row["channel"] == "email"] == ["sent"]

        await wait_for(sent, 90, "the email to be sent after the restart")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)

    # At least once, never lost: the second worker sent it again (SMTP cannot be asked whether the first
    # arrived), under the same Message-ID, so the guest's mail program can show it once.
    assert len(handler.received) == 2
    first_copy, second_copy = handler.received
    assert first_copy["Message-ID"] == second_copy["Message-ID"]
    assert second_copy["To"] == "ada@example.com"
    assert second_copy["Subject"] == "Luigis: you're in the queue"
