"""Each guest's messages come in the language they joined in (the join page's, or the API's ``language``),
from the translated defaults or the restaurant's own text in that language; numbers as that language
writes them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from email.header import decode_header, make_header

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import join_body, make_restaurant
from tests.notify_helpers import FAST, drain, join, standin, twilio
from tests.test_email import Inbox, inbox
from tests.twilio_standin import TwilioStandIn
from tests.web_helpers import csrf_token
from waitline.domain import SYSTEM
from waitline.domain.message import MessageKind
from waitline.mail import SmtpMail, SmtpServer
from waitline.message_texts import fill
from waitline.services import Services
from waitline.services.notifier import Notifier
from waitline.services.texts import TextChange
from waitline.store.engine import Database

__all__ = ["inbox", "standin"]  # fixtures

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def worker(database: Database, standin: TwilioStandIn, port: int) -> AsyncIterator[Notifier]:
    mailer = SmtpMail(
        SmtpServer(host="127.0.0.1", port=port), sender="queue@luigis.example", timeout_seconds=2
    )
    notifier = Notifier(database=database, sms=twilio(standin), policy=FAST, mail=mailer)
    try:
        yield notifier
    finally:
        await notifier.close()


async def call_everyone(database: Database, services: Services, count: int) -> None:
    async with database.snapshot() as connection:
        found = (await connection.execute(text("SELECT id FROM restaurant WHERE slug = 'luigis'"))).scalar()
    for _ in range(count):
        await services.queue.call_next(restaurant_id=found, max_party_size=None, actor=SYSTEM)


def subjects(inbox: Inbox) -> list[str]:
    """The subjects as the guest's mail program shows them (an Arabic one travels RFC 2047-encoded)."""
    return [str(make_header(decode_header(message["Subject"]))) for message in inbox.received]


def texts_to(standin: TwilioStandIn, mobile: str) -> list[str]:
    return [received.body for received in standin.accepted if received.to == mobile]


async def test_a_guest_who_joined_in_spanish_gets_table_ready_in_spanish_by_text_and_email(
    database: Database, services: Services, standin: TwilioStandIn, inbox: tuple[Inbox, int]
) -> None:
    handler, port = inbox
    await make_restaurant(database)
    ana = await join(services, 0, language="es", email="ana@example.com")
    await call_everyone(database, services, 1)
    async with worker(database, standin, port) as notifier:
        await drain(notifier)

    joined, ready = texts_to(standin, "+14155550000")
    assert joined.startswith("Luigis: ya está en la fila, Guest 0. Su número es 1, posición 1.")
    assert ready.startswith("Luigis: su mesa está lista, Guest 0 (número 1). Acérquese a recepción")
    # The link opens the guest's page in the language they joined in.
    assert ready.endswith(f"https://queue.example.com/luigis/e/{ana.id}?lang=es")
    assert subjects(handler) == ["Luigis: ya está en la fila", "Luigis: su mesa está lista"]
    body = handler.received[1].get_payload(decode=True)
    assert isinstance(body, bytes) and body.decode().startswith("Luigis: su mesa está lista, Guest 0")


async def test_a_guest_who_joined_in_arabic_gets_arabic(
    database: Database, services: Services, standin: TwilioStandIn, inbox: tuple[Inbox, int]
) -> None:
    handler, port = inbox
    await make_restaurant(database)
    await join(services, 0, language="ar", email="layla@example.com")
    await join(services, 1)  # no language given: the location's default (English)
    await call_everyone(database, services, 1)
    async with worker(database, standin, port) as notifier:
        await drain(notifier)

    assert texts_to(standin, "+14155550000")[1].startswith("Luigis: طاولتك جاهزة يا Guest 0 (رقم 1).")
    assert subjects(handler)[1] == "Luigis: طاولتك جاهزة"
    assert texts_to(standin, "+14155550001")[0].startswith("Luigis: you're in the queue, Guest 1.")


async def test_an_edited_english_text_does_not_reach_a_guest_who_joined_in_spanish(
    database: Database, services: Services, standin: TwilioStandIn, inbox: tuple[Inbox, int]
) -> None:
    _, port = inbox
    restaurant = (await make_restaurant(database)).restaurant
    edited = TextChange(MessageKind.TABLE_READY, "sms", "Table for {name}! Come in.", enabled=True)
    await services.texts.save(restaurant_id=restaurant.id, language="en", changes=[edited])
    await join(services, 0, language="en")
    await join(services, 1, language="es")
    await join(services, 2)  # the location's default, English: the edited text
    await call_everyone(database, services, 3)
    async with worker(database, standin, port) as notifier:
        await drain(notifier)

    assert texts_to(standin, "+14155550000")[1] == "Table for Guest 0! Come in."
    assert texts_to(standin, "+14155550001")[1].startswith("Luigis: su mesa está lista, Guest 1")
    assert texts_to(standin, "+14155550002")[1] == "Table for Guest 2! Come in."
    # The page shows each language's own text: the edit in English, the default in Spanish.
    english = await services.texts.settings(
        restaurant_id=restaurant.id, restaurant_name="Luigis", language="en"
    )
    spanish = await services.texts.settings(
        restaurant_id=restaurant.id, restaurant_name="Luigis", language="es"
    )
    ready = (MessageKind.TABLE_READY, "sms")
    assert [(s.text, s.own) for s in english if (s.kind, s.channel) == ready] == [(edited.text, True)]
    assert [s.own for s in spanish if (s.kind, s.channel) == ready] == [False]


async def test_a_guest_who_joined_from_a_spanish_page_is_texted_in_spanish(
    client: httpx.AsyncClient, database: Database, standin: TwilioStandIn, inbox: tuple[Inbox, int]
) -> None:
    """The join page's language (here the browser's Accept-Language) is kept with the entry."""
    _, port = inbox
    await make_restaurant(database)
    headers = {"Accept-Language": "es-ES,es;q=0.9"}
    page = await client.get("/luigis", headers=headers)
    guest = {"name": "Ana", "mobile": "+14155550101", "party_size": "2", "csrf_token": csrf_token(page.text)}
    joined = await client.post("/luigis/join", data=guest, headers=headers)
    assert joined.status_code in (200, 303)
    async with worker(database, standin, port) as notifier:
        await drain(notifier)
    (text_sent,) = texts_to(standin, "+14155550101")
    assert text_sent.startswith("Luigis: ya está en la fila, Ana.")


async def test_the_join_api_takes_an_optional_language_and_refuses_one_it_does_not_know(
    client: httpx.AsyncClient, database: Database
) -> None:
    await make_restaurant(database)
    refused = await client.post("/api/public/luigis/queue", json=join_body(0, language="xx"))
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    accepted = await client.post("/api/public/luigis/queue", json=join_body(1, language="fr"))
    assert accepted.status_code == 201
    async with database.snapshot() as connection:
        kept = (await connection.execute(text("SELECT language FROM guest_language"))).scalars().all()
    assert kept == ["fr"]


def test_numbers_in_a_message_are_written_as_the_guests_language_writes_them() -> None:
    template = "{token} / {position} / {name}"
    values = {"token": 1234, "position": 3, "name": "1234"}
    assert fill(template, values, "en") == "1,234 / 3 / 1234"
    assert fill(template, values, "de") == "1.234 / 3 / 1234"
    assert fill(template, values, "fr") == "1\u202f234 / 3 / 1234"
