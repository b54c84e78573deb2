"""What staff see of notifications on each party's row: messages and their delivery, the guest's replies,
the hold countdown, and "resend table ready" that acts once per press."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import CLIENT_IP, StaffRestaurant
from tests.notify_helpers import drain, notifier, outbox_rows, standin
from tests.test_staff_dashboard import HTMX, staff_client
from tests.twilio_standin import TwilioStandIn
from tests.web_helpers import csrf_token
from waitline.domain import SYSTEM
from waitline.services import Services
from waitline.store.engine import Database

__all__ = ["staff_client", "standin"]  # fixtures

pytestmark = pytest.mark.anyio


async def called_and_texted(
    database: Database, services: Services, standin: TwilioStandIn, restaurant: StaffRestaurant
) -> str:
    joined = await services.queue.join(
        slug="luigis",
        name="Ada",
        mobile="+14155550101",
        party_size=2,
        idempotency_key=None,
        client_ip=CLIENT_IP,
    )
    await services.queue.call_next(restaurant_id=restaurant.restaurant.id, max_party_size=None, actor=SYSTEM)
    async with notifier(database, standin) as worker:
        await drain(worker)
    return str(joined.entry.id)


async def test_a_called_row_shows_its_messages_the_replies_and_the_hold(
    database: Database,
    services: Services,
    standin: TwilioStandIn,
    restaurant: StaffRestaurant,
    staff_client: httpx.AsyncClient,
) -> None:
    await called_and_texted(database, services, standin, restaurant)
    await services.replies.text_received(mobile="+14155550101", text="L")
    await services.replies.text_received(mobile="+14155550101", text="Parking, two minutes")

    page = (await staff_client.get("/staff/luigis")).text

    assert 'data-message="joined" data-state="sent"' in page
    assert 'data-message="table_ready" data-state="sent"' in page
    assert 'data-message="reminder" data-state="pending"' in page
    assert 'data-reply="late"' in page
    assert "Parking, two minutes" in page
    assert re.search(
        r'data-hold-deadline="\d+" data-hold-over="hold ran out: mark a no-show\?">hold: (9|10):\d\d left',
        page,
    )


async def test_a_confirmed_party_shows_on_the_way_and_no_countdown(
    database: Database,
    services: Services,
    standin: TwilioStandIn,
    restaurant: StaffRestaurant,
    staff_client: httpx.AsyncClient,
) -> None:
    await called_and_texted(database, services, standin, restaurant)
    await services.replies.text_received(mobile="+14155550101", text="omw")
    page = (await staff_client.get("/staff/luigis")).text
    assert 'data-reply="confirmed"' in page
    assert "data-hold-deadline" not in page


async def test_resend_table_ready_sends_once_per_press_even_on_a_double_tap(
    database: Database,
    services: Services,
    standin: TwilioStandIn,
    restaurant: StaffRestaurant,
    staff_client: httpx.AsyncClient,
) -> None:
    entry_id = await called_and_texted(database, services, standin, restaurant)
    page = (await staff_client.get("/staff/luigis")).text
    key = re.search(r'name="resend_key" value="([^"]+)"', page)
    assert key
    form = {"csrf_token": csrf_token(page), "resend_key": key.group(1)}
    first = await staff_client.post(f"/staff/luigis/entries/{entry_id}/resend", data=form, headers=HTMX)
    second = await staff_client.post(f"/staff/luigis/entries/{entry_id}/resend", data=form, headers=HTMX)
    assert first.status_code == second.status_code == 200
    assert "Sent “table ready” again." in first.text
    assert "Nothing sent" in second.text
    again = (await staff_client.get("/staff/luigis")).text
    next_key = re.search(r'name="resend_key" value="([^"]+)"', again)
    assert next_key and next_key.group(1) != key.group(1)
    form["resend_key"] = next_key.group(1)
    await staff_client.post(f"/staff/luigis/entries/{entry_id}/resend", data=form, headers=HTMX)

    async with notifier(database, standin) as worker:
        await drain(worker)
    ready = [row for row in await outbox_rows(database) if row["kind"] == "table_ready"]
    assert [row["state"] for row in ready] == ["sent", "sent", "sent"]  # the call's, and one per press
    assert sum("your table is ready" in r.body for r in standin.accepted) == 3


async def test_a_bad_resend_key_is_refused_and_sends_nothing(
    database: Database,
    services: Services,
    standin: TwilioStandIn,
    restaurant: StaffRestaurant,
    staff_client: httpx.AsyncClient,
) -> None:
    entry_id = await called_and_texted(database, services, standin, restaurant)
    page = (await staff_client.get("/staff/luigis")).text
    for key in ("", "short", "x" * 65, "<script>"):
        form = {"csrf_token": csrf_token(page), "resend_key": key}
        response = await staff_client.post(
            f"/staff/luigis/entries/{entry_id}/resend", data=form, headers=HTMX
        )
        assert response.status_code == 422
    async with database.snapshot() as connection:
        count = (
            await connection.execute(text("SELECT count(*) FROM outbox WHERE kind = 'table_ready'"))
        ).scalar()
    assert count == 1
