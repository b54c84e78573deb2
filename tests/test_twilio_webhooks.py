"""Twilio's webhooks: replies by text and delivery reports, signed or refused."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import CLIENT_IP, StaffRestaurant, make_restaurant
from tests.notify_helpers import (
    FAST,
    PUBLIC_URL,
    drain,
    notifier,
    outbox_rows,
    standin,
    texting_client,
    twilio,
)
from tests.test_email import Inbox, inbox
from tests.twilio_standin import AUTH_TOKEN, TwilioStandIn
from waitline.domain import SYSTEM, Transition
from waitline.mail import SmtpMail, SmtpServer
from waitline.services import Services
from waitline.services.notifier import Notifier
from waitline.sms import twilio_signature
from waitline.store.engine import Database

__all__ = ["inbox", "standin", "texting_client"]  # fixtures

pytestmark = pytest.mark.anyio

GUEST = "+14155550101"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def test_the_signature_is_twilios_documented_example() -> None:
    # https://www.twilio.com/docs/usage/security#validating-requests (its worked example).
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params.items()) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


async def post_signed(
    client: httpx.AsyncClient, path: str, fields: dict[str, str], *, token: str = AUTH_TOKEN
) -> httpx.Response:
    signature = twilio_signature(token, PUBLIC_URL + path, fields.items())
    return await client.post(path, data=fields, headers={"X-Twilio-Signature": signature})


async def reply(client: httpx.AsyncClient, body: str, mobile: str = GUEST) -> httpx.Response:
    fields = {"From": mobile, "To": "+15005550006", "Body": body, "MessageSid": "SM" + "1" * 32}
    return await post_signed(client, "/webhooks/twilio/sms", fields)


async def texted_guest(
    database: Database, services: Services, standin: TwilioStandIn
) -> tuple[StaffRestaurant, str]:
    restaurant = await make_restaurant(database)
    joined = await services.queue.join(
        slug="luigis", name="Ada", mobile=GUEST, party_size=2, idempotency_key=None, client_ip=CLIENT_IP
    )
    async with notifier(database, standin) as worker:
        await drain(worker)
    return restaurant, str(joined.entry.id)


async def log(database: Database) -> list[tuple[str, str | None]]:
    async with database.snapshot() as connection:
        rows = await connection.execute(text("SELECT type, details FROM queue_event ORDER BY seq"))
        return [(row.type, row.details) for row in rows]


@pytest.mark.parametrize("signature", [None, "", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", "signed-with-another-token"])
async def test_an_unsigned_or_wrongly_signed_reply_is_refused_and_changes_nothing(
    database: Database,
    services: Services,
    standin: TwilioStandIn,
    texting_client: httpx.AsyncClient,
    signature: str | None,
) -> None:
    await texted_guest(database, services, standin)
    before = await log(database)
    fields = {"From": GUEST, "Body": "C"}
    if signature == "signed-with-another-token":
        signature = twilio_signature("another-token", PUBLIC_URL + "/webhooks/twilio/sms", fields.items())
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    for path in ("/webhooks/twilio/sms", "/webhooks/twilio/status"):
        response = await texting_client.post(path, data=fields, headers=headers)
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
    assert await log(database) == before


async def test_a_signed_body_that_was_changed_is_refused(
    database: Database, services: Services, standin: TwilioStandIn, texting_client: httpx.AsyncClient
) -> None:
    await texted_guest(database, services, standin)
    signature = twilio_signature(
        AUTH_TOKEN, PUBLIC_URL + "/webhooks/twilio/sms", {"From": GUEST, "Body": "1"}.items()
    )
    response = await texting_client.post(
        "/webhooks/twilio/sms", data={"From": GUEST, "Body": "C"}, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403
    assert [event for event, _ in await log(database)] == ["joined"]


@pytest.mark.parametrize(
    ("body", "event"),
    [
        ("C", "left"),
        (" cancel ", "left"),
        ("1", "confirmed"),
        ("omw", "confirmed"),
        ("On my  way", "confirmed"),
        ("L", "late"),
        ("LATE", "late"),
        ("Can we sit outside?", "replied"),
    ],
)
async def test_each_reply_keyword_becomes_its_event(
    database: Database,
    services: Services,
    standin: TwilioStandIn,
    texting_client: httpx.AsyncClient,
    body: str,
    event: str,
) -> None:
    await texted_guest(database, services, standin)
    response = await reply(texting_client, body)
    assert response.status_code == 200
    assert response.text == EMPTY_TWIML
    assert response.headers["content-type"].startswith("text/xml")
    recorded = await log(database)
    assert [kind for kind, _ in recorded] == ["joined", event]
    if event == "replied":
        assert recorded[1][1] == '{"text":"Can we sit outside?"}'


async def test_cancel_by_text_sends_the_left_confirmation(
    database: Database, services: Services, standin: TwilioStandIn, texting_client: httpx.AsyncClient
) -> None:
    await texted_guest(database, services, standin)
    await reply(texting_client, "C")
    rows = await outbox_rows(database)
    assert [row["kind"] for row in rows] == ["joined", "left"]


async def test_stop_silences_the_numbers_texts_and_start_undoes_it(
    database: Database, services: Services, standin: TwilioStandIn, texting_client: httpx.AsyncClient
) -> None:
    restaurant, entry_id = await texted_guest(database, services, standin)
    await reply(texting_client, "STOP")
    await services.queue.call_next(restaurant_id=restaurant.restaurant.id, max_party_size=None, actor=SYSTEM)
    async with notifier(database, standin) as worker:
        await drain(worker)
    # The call's text is written (its email and push twins are made from it) and never sent.
    (table_ready,) = [row for row in await outbox_rows(database) if row["kind"] == "table_ready"]
    assert (table_ready["state"], table_ready["reason"]) == ("skipped", "the number opted out (STOP)")
    assert len(standin.accepted) == 1  # the "joined" text before STOP
    await reply(texting_client, "start")
    await services.queue.transition(
        restaurant_id=restaurant.restaurant.id,
        entry_id=uuid.UUID(entry_id),
        transition=Transition.NO_SHOW,
        actor=SYSTEM,
    )
    async with notifier(database, standin) as worker:
        await drain(worker)
    assert [row["state"] for row in await outbox_rows(database) if row["kind"] == "no_show"] == ["sent"]
    assert len(standin.accepted) == 2
    assert [kind for kind, _ in await log(database)] == [
        "joined",
        "opted_out",
        "called",
        "opted_in",
        "no_show",
    ]


async def test_stop_stops_the_texts_only_and_the_guests_email_still_goes(
    database: Database,
    services: Services,
    standin: TwilioStandIn,
    inbox: tuple[Inbox, int],
) -> None:
    """Twilio's STOP is the opt-out from that number's texts: the guest who also gave an email address
    still gets "table ready" (and every later message) by email. (The reply goes straight to the use case:
    the webhook's own app would run a second worker, without SMTP, beside this test's.)"""
    handler, port = inbox
    restaurant = await make_restaurant(database)
    await services.queue.join(
        slug="luigis",
        name="Ada",
        mobile=GUEST,
        party_size=2,
        idempotency_key=None,
        client_ip=CLIENT_IP,
        email="ada@example.com",
    )
    mailer = SmtpMail(
        SmtpServer(host="127.0.0.1", port=port), sender="queue@luigis.example", timeout_seconds=2
    )
    worker = Notifier(database=database, sms=twilio(standin), policy=FAST, mail=mailer)
    await drain(worker)
    assert await services.replies.text_received(mobile=GUEST, text="STOP") == "opted_out"
    await services.queue.call_next(restaurant_id=restaurant.restaurant.id, max_party_size=None, actor=SYSTEM)
    await drain(worker)
    await worker.close()

    assert [r.body.split(",")[0] for r in standin.accepted] == ["Luigis: you're in the queue"]
    assert [m["Subject"] for m in handler.received] == [
        "Luigis: you're in the queue",
        "Luigis: your table is ready",
    ]
    ready = {row["channel"]: row for row in await outbox_rows(database) if row["kind"] == "table_ready"}
    assert (ready["sms"]["state"], ready["sms"]["reason"]) == ("skipped", "the number opted out (STOP)")
    assert ready["email"]["state"] == "sent"


async def test_a_number_nobody_texted_gets_the_same_answer_and_changes_nothing(
    database: Database, services: Services, standin: TwilioStandIn, texting_client: httpx.AsyncClient
) -> None:
    await texted_guest(database, services, standin)
    before = await log(database)
    for body in ("C", "1", "STOP", "hello"):
        response = await reply(texting_client, body, mobile="+14155559999")
        assert response.status_code == 200
        assert response.text == EMPTY_TWIML
    assert await log(database) == before


async def test_delivery_reports_update_each_messages_state(
    database: Database, services: Services, standin: TwilioStandIn, texting_client: httpx.AsyncClient
) -> None:
    await texted_guest(database, services, standin)
    await services.queue.join(
        slug="luigis",
        name="Bo",
        mobile="+14155550102",
        party_size=2,
        idempotency_key=None,
        client_ip=CLIENT_IP,
    )
    async with notifier(database, standin) as worker:
        await drain(worker)
    first, second = await outbox_rows(database)
    for sid, status, code in (
        (first["provider_id"], "delivered", None),
        (second["provider_id"], "undelivered", "30003"),
    ):
        fields = {"MessageSid": sid, "MessageStatus": status, **({"ErrorCode": code} if code else {})}
        assert (await post_signed(texting_client, "/webhooks/twilio/status", fields)).status_code == 204
    first, second = await outbox_rows(database)
    assert first["state"] == "delivered"
    assert (second["state"], second["reason"]) == ("failed", "undelivered (Twilio error 30003)")
    metrics = (await texting_client.get("/metrics")).text
    assert 'waitline_messages_total{channel="sms",outcome="delivered",type="joined"} 1.0' in metrics
