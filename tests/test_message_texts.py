"""Each restaurant edits its texts (placeholders, a preview) and switches each message off or on."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import StaffRestaurant
from tests.notify_helpers import FAST, drain, join, notifier, outbox_rows, standin, twilio
from tests.push_endpoint import push_endpoint
from tests.twilio_standin import TwilioStandIn
from tests.web_helpers import create_staff, csrf_token, sign_in
from waitline.domain import SYSTEM, Role
from waitline.domain.message import MessageKind
from waitline.message_texts import DEFAULT_TEXTS
from waitline.push import WebPush
from waitline.services import Services
from waitline.services.notifier import Notifier
from waitline.services.pushes import Pushes
from waitline.services.texts import CHANNELS
from waitline.store.engine import Database

__all__ = ["standin"]  # fixtures

pytestmark = pytest.mark.anyio


@pytest.fixture
async def staff_client(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> httpx.AsyncClient:
    """The location's manager, signed in: the texts are the location's settings (a host may not edit them;
    tests/test_authorisation_matrix.py holds that)."""
    await sign_in(client, await create_staff(database, "luigis", role=Role.MANAGER))
    return client


def form(page: str, **changes: str) -> dict[str, str]:
    fields = {"csrf_token": csrf_token(page), "do": "save"}
    for kind in MessageKind:
        for channel in CHANNELS:
            fields[f"text-{kind.value}-{channel}"] = DEFAULT_TEXTS[kind]
            fields[f"on-{kind.value}-{channel}"] = "1"
    fields.update(changes)
    return {name: value for name, value in fields.items() if value != "off"}


async def test_the_page_shows_each_text_with_a_preview(staff_client: httpx.AsyncClient) -> None:
    page = await staff_client.get("/staff/luigis/messages")
    assert page.status_code == 200
    assert "Luigis: you&#39;re in the queue, Ada. Your number is 42, position 3." in page.text
    assert page.text.count("data-preview") == len(MessageKind) * len(CHANNELS)  # SMS, email and push


async def test_a_preview_renders_without_saving(staff_client: httpx.AsyncClient) -> None:
    page = (await staff_client.get("/staff/luigis/messages")).text
    fields = form(
        page, **{"text-joined-sms": "Hi {name}, you are #{token} at {restaurant}.", "do": "preview"}
    )
    response = await staff_client.post("/staff/luigis/messages", data=fields)
    assert "Hi Ada, you are #42 at Luigis." in response.text
    assert "Preview only" in response.text
    again = (await staff_client.get("/staff/luigis/messages")).text
    assert "Hi Ada, you are #42" not in again


async def test_a_saved_text_is_what_the_guest_gets_and_a_switched_off_message_is_not_sent(
    database: Database,
    services: Services,
    standin: TwilioStandIn,
    restaurant: StaffRestaurant,
    staff_client: httpx.AsyncClient,
) -> None:
    page = (await staff_client.get("/staff/luigis/messages")).text
    fields = form(
        page, **{"text-joined-sms": "Hi {name}, you are #{token} at {restaurant}.", "on-left-sms": "off"}
    )
    saved = await staff_client.post("/staff/luigis/messages", data=fields)
    assert saved.status_code == 200 and "Saved." in saved.text
    entry = await join(services, 1)
    await services.queue.leave(slug="luigis", entry_id=entry.id)
    async with notifier(database, standin) as worker:
        await drain(worker)
    assert [r.body for r in standin.accepted] == ["Hi Guest 1, you are #1 at Luigis."]
    left = [row for row in await outbox_rows(database) if row["kind"] == "left"]
    assert [(row["state"], row["reason"]) for row in left] == [("skipped", "switched off by the restaurant")]


async def test_a_text_too_long_is_refused_and_nothing_is_saved(staff_client: httpx.AsyncClient) -> None:
    page = (await staff_client.get("/staff/luigis/messages")).text
    response = await staff_client.post(
        "/staff/luigis/messages", data=form(page, **{"text-joined-sms": "x" * 481})
    )
    assert response.status_code == 422
    assert "At most 480 characters" in response.text
    assert "x" * 481 not in (await staff_client.get("/staff/luigis/messages")).text


async def test_only_signed_in_staff_of_the_restaurant_see_the_page(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    response = await client.get("/staff/luigis/messages", follow_redirects=False)
    assert response.status_code in (303, 401, 403)


async def test_the_hold_window_auto_no_show_and_almost_up_position_are_the_restaurants_choice(
    database: Database, services: Services, restaurant: StaffRestaurant, staff_client: httpx.AsyncClient
) -> None:
    page = (await staff_client.get("/staff/luigis/messages")).text
    assert 'name="hold_minutes" type="number" inputmode="numeric" min="0" max="120" value="10"' in page
    fields = {"csrf_token": csrf_token(page), "hold_minutes": "4", "almost_up": "2", "auto_no_show": "1"}
    saved = await staff_client.post("/staff/luigis/messages/policy", data=fields)
    assert saved.status_code == 200 and "Saved." in saved.text
    policy = await services.texts.policy(restaurant_id=restaurant.restaurant.id)
    assert (policy.hold_minutes, policy.auto_no_show, policy.almost_up) == (4, True, 2)
    for bad in ({"hold_minutes": "121"}, {"almost_up": "-1"}, {"hold_minutes": "ten"}):
        response = await staff_client.post("/staff/luigis/messages/policy", data={**fields, **bad})
        assert response.status_code == 422
    assert await services.texts.policy(restaurant_id=restaurant.restaurant.id) == policy


async def test_each_message_can_be_switched_off_for_push_on_the_page(
    database: Database,
    services: Services,
    standin: TwilioStandIn,
    restaurant: StaffRestaurant,
    staff_client: httpx.AsyncClient,
) -> None:
    page = (await staff_client.get("/staff/luigis/messages")).text
    for kind in MessageKind:
        assert f'name="on-{kind.value}-push" value="1" checked' in page
    saved = await staff_client.post(
        "/staff/luigis/messages", data=form(page, **{"on-table_ready-push": "off"})
    )
    assert saved.status_code == 200
    assert 'name="on-table_ready-push" value="1" >' in saved.text  # unchecked now
    assert 'name="on-table_ready-sms" value="1" checked' in saved.text
    with push_endpoint() as endpoint:
        ada = await join(services, 0)
        await services.pushes.subscribe(slug="luigis", entry_id=ada.id, subscription=endpoint.subscription())
        await services.queue.call_next(
            restaurant_id=restaurant.restaurant.id, max_party_size=None, actor=SYSTEM
        )
        web_push = WebPush(
            private_key=Pushes(database=database).private_key,
            subject="mailto:q@luigis.example",
            timeout_seconds=2,
        )
        worker = Notifier(database=database, sms=twilio(standin), policy=FAST, push=web_push)
        await drain(worker)
        await worker.close()
        assert endpoint.received == []
    (push,) = [
        row
        for row in await outbox_rows(database)
        if row["kind"] == "table_ready" and row["channel"] == "push"
    ]
    assert (push["state"], push["reason"]) == ("skipped", "switched off by the restaurant")
    assert [r.body.split(",")[0] for r in standin.accepted][-1] == "Luigis: your table is ready"


async def test_the_page_edits_the_texts_of_one_language_and_keeps_the_others(
    services: Services, restaurant: StaffRestaurant, staff_client: httpx.AsyncClient
) -> None:
    spanish = (await staff_client.get("/staff/luigis/messages?language=es")).text
    assert "Luigis: ya está en la fila, Ada. Su número es 42, posición 3." in spanish
    fields = form(spanish, language="es", **{"text-joined-sms": "¡Hola {name}! Número {token}."})
    for kind in MessageKind:  # the Spanish defaults as the page shows them
        fields.pop(f"text-{kind.value}-email", None)
    saved = await staff_client.post("/staff/luigis/messages", data=fields)
    assert "¡Hola Ada! Número 42." in saved.text
    english = (await staff_client.get("/staff/luigis/messages")).text
    assert "¡Hola" not in english
    assert "Luigis: you&#39;re in the queue, Ada." in english
