"""Messages go by email too when the guest gave an address: through the outbox and the worker, to a real
SMTP server (aiosmtpd) started here; a 5xx fails the email with the reason, a 4xx or no server retries it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import Message as MailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.smtp import SMTP

from tests.conftest import CLIENT_IP, make_restaurant
from tests.notify_helpers import FAST, drain, twilio
from tests.twilio_standin import TwilioStandIn, twilio_standin
from tests.web_helpers import csrf_token
from waitline.domain import SYSTEM
from waitline.domain.message import MessageKind
from waitline.mail import SmtpMail, SmtpServer, mask, valid_address
from waitline.observability import configure_logging
from waitline.services import Services
from waitline.services.notifier import Notifier, _Pause
from waitline.services.texts import TextChange
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio
SENDER = "queue@luigis.example"


@dataclass
class Inbox:
    """What the SMTP server received; ``answer`` is what it says to the next DATA ("250 OK", "550 ...")."""

    answer: str = "250 OK"
    received: list[MailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.answer.startswith("250"):
            self.received.append(email.message_from_bytes(envelope.content))
        return self.answer


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def inbox() -> AsyncIterator[tuple[Inbox, int]]:
    """aiosmtpd's SMTP protocol served on this test's own event loop, on a free port."""
    handler = Inbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler), host="127.0.0.1", port=0)
    try:
        yield handler, int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    with twilio_standin() as standin:
        yield standin


@contextlib.asynccontextmanager
async def _worker(database: Database, standin: TwilioStandIn, port: int) -> AsyncIterator[Notifier]:
    mailer = SmtpMail(SmtpServer(host="127.0.0.1", port=port), sender=SENDER, timeout_seconds=2.0)
    worker = Notifier(database=database, sms=twilio(standin), policy=FAST, mail=mailer)
    try:
        yield worker
    finally:
        await worker.close()


async def _join(services: Services, index: int, address: str | None) -> Any:
    joined = await services.queue.join(
        slug="luigis",
        name=f"Guest {index}",
        mobile=f"+1415555{index:04d}",
        party_size=2,
        idempotency_key=None,
        client_ip=CLIENT_IP,
        email=address,
    )
    return joined.entry


async def _once(worker: Notifier) -> None:
    """One claim; the pause a "later" asks for is not waited."""
    with contextlib.suppress(_Pause):
        await worker.run_once()


async def _rows(database: Database) -> list[dict[str, Any]]:
    from sqlalchemy import text

    async with database.snapshot() as connection:
        result = await connection.execute(
            text("SELECT kind, channel, recipient, state, attempts, reason FROM outbox ORDER BY id")
        )
        return [dict(row) for row in result.mappings()]


async def test_each_message_goes_by_email_too_when_the_guest_gave_an_address(
    database: Database, services: Services, standin: TwilioStandIn, inbox: tuple[Inbox, int]
) -> None:
    handler, port = inbox
    restaurant = (await make_restaurant(database)).restaurant
    ada = await _join(services, 0, "ada@example.com")
    await _join(services, 1, None)  # no address: texts only
    await services.queue.call_next(restaurant_id=restaurant.id, max_party_size=None, actor=SYSTEM)
    async with _worker(database, standin, port) as worker:
        await drain(worker)

    subjects = [(m["To"], m["Subject"]) for m in handler.received]
    assert subjects == [
        ("ada@example.com", "Luigis: you're in the queue"),
        ("ada@example.com", "Luigis: your table is ready"),
    ]
    first = handler.received[0]
    assert first["From"] == SENDER
    body = first.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert f"https://queue.example.com/luigis/e/{ada.id}" in body.decode()
    emails = [row for row in await _rows(database) if row["channel"] == "email"]
    # The reminder is due at half the hold window; the other guest has no email rows.
    assert [(r["kind"], r["state"]) for r in emails] == [
        ("joined", "sent"),
        ("table_ready", "sent"),
        ("reminder", "pending"),
    ]
    assert len(standin.accepted) == 3  # the texts still go: two joined, one table ready


async def test_an_smtp_refusal_fails_the_email_with_the_reason(
    database: Database, services: Services, standin: TwilioStandIn, inbox: tuple[Inbox, int]
) -> None:
    handler, port = inbox
    handler.answer = "550 5.1.1 mailbox unavailable"
    await make_restaurant(database)
    await _join(services, 0, "nobody@example.com")
    async with _worker(database, standin, port) as worker:
        await drain(worker)
    (row,) = [row for row in await _rows(database) if row["channel"] == "email"]
    assert row["state"] == "failed"
    assert row["attempts"] == 1
    assert "550" in row["reason"] and "mailbox unavailable" in row["reason"]


async def test_a_4xx_or_no_server_is_retried_until_it_goes(
    database: Database, services: Services, standin: TwilioStandIn, inbox: tuple[Inbox, int]
) -> None:
    handler, port = inbox
    await make_restaurant(database)
    await _join(services, 0, "ada@example.com")
    # First nobody listens on the port, then the server says 451 (try later).
    closed = _free_port()
    async with _worker(database, standin, closed) as worker:
        await _once(worker)
    (row,) = [row for row in await _rows(database) if row["channel"] == "email"]
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert "smtp" in row["reason"]
    handler.answer = "451 4.3.0 try again later"
    async with _worker(database, standin, port) as worker:
        await _once(worker)
    (row,) = [row for row in await _rows(database) if row["channel"] == "email"]
    assert (row["state"], row["attempts"]) == ("pending", 2)
    assert "451" in row["reason"]
    handler.answer = "250 OK"
    async with _worker(database, standin, port) as worker:
        await drain(worker)
    (row,) = [row for row in await _rows(database) if row["channel"] == "email"]
    assert (row["state"], row["attempts"]) == ("sent", 3)
    assert [m["To"] for m in handler.received] == ["ada@example.com"]


async def test_the_join_api_takes_an_optional_valid_email(
    client: httpx.AsyncClient, database: Database
) -> None:
    await make_restaurant(database)
    body = {"name": "Ada", "mobileNumber": "+14155550101", "partySize": 2}
    bad = await client.post("/api/public/luigis/queue", json={**body, "email": "not an address"})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    good = await client.post("/api/public/luigis/queue", json={**body, "email": " ada@example.com "})
    assert good.status_code == 201
    rows = await _rows(database)
    assert [(r["channel"], r["recipient"]) for r in rows if r["channel"] == "email"] == [
        ("email", "ada@example.com")
    ]


def test_addresses_are_checked_and_masked() -> None:
    assert valid_address("ada@example.com")
    assert not valid_address("ada@example")
    assert not valid_address("ada example.com")
    assert mask("ada@example.com") == "a***@example.com"
    server = SmtpServer.from_url("smtp://user:p%40ss@mail.example.com:587?starttls=true")
    assert (server.host, server.port, server.username, server.password) == (
        "mail.example.com",
        587,
        "user",
        "p@ss",
    )
    assert server.start_tls and not server.use_tls
    assert SmtpServer.from_url("smtps://mail.example.com").port == 465


async def test_a_restaurant_can_switch_a_message_off_by_email_only(
    database: Database, services: Services, standin: TwilioStandIn, inbox: tuple[Inbox, int]
) -> None:
    handler, port = inbox
    restaurant = (await make_restaurant(database)).restaurant
    await services.texts.save(
        restaurant_id=restaurant.id,
        language="en",
        changes=[TextChange(MessageKind.JOINED, "email", "", enabled=False)],
    )
    await _join(services, 0, "ada@example.com")
    async with _worker(database, standin, port) as worker:
        await drain(worker)
    assert handler.received == []
    assert len(standin.accepted) == 1  # the text still went
    (row,) = [row for row in await _rows(database) if row["channel"] == "email"]
    assert (row["state"], row["reason"]) == ("skipped", "switched off by the restaurant")


async def test_the_join_form_takes_an_optional_email(client: httpx.AsyncClient, database: Database) -> None:
    await make_restaurant(database)
    page = await client.get("/luigis")
    assert 'name="email"' in page.text
    guest = {"name": "Ada", "mobile": "+14155550101", "party_size": "2", "csrf_token": csrf_token(page.text)}
    refused = await client.post("/luigis/join", data={**guest, "email": "ada@"})
    assert refused.status_code == 422
    assert "Please enter an email address" in refused.text
    assert await _rows(database) == []
    joined = await client.post("/luigis/join", data={**guest, "email": ""})  # left empty: texts only
    assert joined.status_code in (200, 303)
    assert [row["channel"] for row in await _rows(database)] == ["sms"]


async def test_a_text_that_fails_for_good_still_reaches_the_guest_by_email(
    database: Database, services: Services, standin: TwilioStandIn, inbox: tuple[Inbox, int]
) -> None:
    handler, port = inbox
    await make_restaurant(database)
    standin.fail("500")
    await _join(services, 0, "ada@example.com")
    mailer = SmtpMail(SmtpServer(host="127.0.0.1", port=port), sender=SENDER, timeout_seconds=2.0)
    policy = dataclasses.replace(FAST, max_attempts=1)
    worker = Notifier(database=database, sms=twilio(standin), policy=policy, mail=mailer)
    try:
        await drain(worker)
    finally:
        await worker.close()
    by_channel = {row["channel"]: row for row in await _rows(database)}
    assert by_channel["sms"]["state"] == "failed"
    assert by_channel["email"]["state"] == "sent"
    assert [m["Subject"] for m in handler.received] == ["Luigis: you're in the queue"]


async def test_the_worker_logs_the_address_masked(
    database: Database,
    services: Services,
    standin: TwilioStandIn,
    inbox: tuple[Inbox, int],
    capfd: pytest.CaptureFixture[str],
) -> None:
    _handler, port = inbox
    configure_logging(json=True)  # as the app does: one JSON object a line on stderr
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # the test's SMTP server (aiosmtpd), not ours
    await make_restaurant(database)
    await _join(services, 0, "ada@example.com")
    async with _worker(database, standin, port) as worker:
        await drain(worker)
    err = capfd.readouterr().err
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    sent = [e for e in events if e.get("event") == "notify.sent" and e.get("channel") == "email"]
    assert [event["to"] for event in sent] == ["a***@example.com"]
    assert "ada@example.com" not in err
