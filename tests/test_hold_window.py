"""The hold window after a call: the reminder at half of it, "On my way", and the no-show when it runs out
(by the system where the restaurant chose so)."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import make_restaurant
from tests.notify_helpers import drain, join, notifier, outbox_rows, standin
from tests.twilio_standin import TwilioStandIn
from tests.web_helpers import csrf_token
from waitline.domain import SYSTEM
from waitline.services import Services
from waitline.store.engine import Database

__all__ = ["standin"]  # fixture

pytestmark = pytest.mark.anyio


async def sql(database: Database, statement: str) -> None:
    async with database.transaction() as connection:
        await connection.execute(text(statement))


async def called_party(database: Database, services: Services, *, auto: bool = False) -> uuid.UUID:
    restaurant = (await make_restaurant(database)).restaurant
    if auto:
        await sql(database, "UPDATE restaurant SET auto_no_show = true")
    entry = await join(services, 1)
    await services.queue.call_next(restaurant_id=restaurant.id, max_party_size=None, actor=SYSTEM)
    return entry.id


async def make_due(database: Database, what: str) -> None:
    """Move the hold's clock on: the reminder due now, or the call 11 minutes ago."""
    past = (
        "now() - interval '11 minutes'"
        if database.engine.dialect.name == "postgresql"
        else "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-660 seconds')"
    )
    if what == "reminder":
        await sql(database, f"UPDATE outbox SET due_at = {past} WHERE kind = 'reminder'")  # noqa: S608 (our own SQL)
    else:
        await sql(database, f"UPDATE queue_entry SET called_at = {past}")  # noqa: S608 (our own SQL)


async def events(database: Database) -> list[tuple[str, str]]:
    async with database.snapshot() as connection:
        rows = await connection.execute(text("SELECT type, actor_kind FROM queue_event ORDER BY seq"))
        return [(row.type, row.actor_kind) for row in rows]


async def test_the_reminder_waits_for_half_the_hold_then_goes_out(
    database: Database, services: Services, standin: TwilioStandIn
) -> None:
    await called_party(database, services)
    async with notifier(database, standin) as worker:
        await drain(worker)
        assert [r.body.split(":")[1].strip()[:9] for r in standin.accepted] == ["you're in", "your tabl"]
        await make_due(database, "reminder")
        await drain(worker)
    assert standin.accepted[-1].body.startswith("Luigis: we're holding your table, Guest 1 (number 1).")
    assert [row["state"] for row in await outbox_rows(database)] == ["sent", "sent", "sent"]


async def test_no_reminder_once_the_guest_confirmed(
    database: Database, services: Services, standin: TwilioStandIn
) -> None:
    entry_id = await called_party(database, services)
    assert await services.holds.confirm(slug="luigis", entry_id=entry_id)
    assert not await services.holds.confirm(slug="luigis", entry_id=entry_id)  # once
    await make_due(database, "reminder")
    async with notifier(database, standin) as worker:
        await drain(worker)
    reminder = [row for row in await outbox_rows(database) if row["kind"] == "reminder"]
    assert [(row["state"], row["reason"]) for row in reminder] == [("skipped", "no longer needed")]
    assert len(standin.accepted) == 2
    assert [kind for kind, _ in await events(database)] == ["joined", "called", "confirmed"]


async def test_a_hold_that_runs_out_is_marked_no_show_by_the_system_where_chosen(
    database: Database, services: Services
) -> None:
    await called_party(database, services, auto=True)
    assert await services.holds.expire() == 0  # not yet
    await make_due(database, "call")
    assert await services.holds.expire() == 1
    assert await services.holds.expire() == 0
    assert (await events(database))[-1] == ("no_show", "system")
    assert "no_show" in [row["kind"] for row in await outbox_rows(database)]


async def test_without_the_choice_or_once_confirmed_nobody_is_marked(
    database: Database, services: Services
) -> None:
    entry_id = await called_party(database, services)
    await make_due(database, "call")
    assert await services.holds.expire() == 0  # staff are prompted instead (the dashboard)
    await sql(database, "UPDATE restaurant SET auto_no_show = true")
    await services.holds.confirm(slug="luigis", entry_id=entry_id)
    assert await services.holds.expire() == 0
    assert [kind for kind, _ in await events(database)] == ["joined", "called", "confirmed"]


async def test_the_status_page_has_an_on_my_way_button_while_called(
    database: Database, services: Services, client: httpx.AsyncClient
) -> None:
    entry_id = await called_party(database, services)
    location = f"/luigis/e/{entry_id}"
    page = await client.get(location)
    assert re.search(r"data-if-called\s+>", page.text)  # shown while called
    for _ in range(2):  # a double tap confirms once
        response = await client.post(f"{location}/confirm", data={"csrf_token": csrf_token(page.text)})
        assert response.status_code == 303
    after = await client.get(location)
    assert "we’re holding your table" in after.text
    assert re.search(r"data-if-called\s+hidden>", after.text)  # the button is hidden once confirmed
    assert [kind for kind, _ in await events(database)] == ["joined", "called", "confirmed"]
