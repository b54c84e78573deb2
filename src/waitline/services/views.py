"""What the pages show: one read per page, in one snapshot, as a view the templates render.

The words are the templates' business (web/); these are values only.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline import wait_estimate
from waitline.domain import (
    ACTIVE_STATUSES,
    CalledToken,
    DayCounts,
    Entry,
    Overtaking,
    QueueSummary,
    Restaurant,
    Status,
    overtaking,
)
from waitline.domain.message import MessageRecord
from waitline.services.estimates import TYPICAL_PARTY, Estimates
from waitline.store import entries, events, history, holds, outbox, restaurants
from waitline.store.engine import Database
from waitline.wait_estimate import WaitEstimate

DASHBOARD_LIMIT = 1000
BOARD_TOKENS = 6
# At most this many parties that went first are explained to a guest (the page names a few).
OVERTAKEN_LIMIT = 50


@dataclass(frozen=True)
class JoinView:
    summary: QueueSummary
    estimate: WaitEstimate  # for a party joining now


@dataclass(frozen=True)
class GuestView:
    restaurant: Restaurant
    entry: Entry
    estimate: WaitEstimate | None  # while waiting
    now_serving: int | None
    # The parties called before this guest although they came later, and why; None: nobody did.
    overtaken: Overtaking | None
    # Called, and said "on my way" (the status page's button or a text reply).
    confirmed: bool = False


@dataclass(frozen=True)
class BoardView:
    summary: QueueSummary
    called: tuple[CalledToken, ...]  # newest first


@dataclass(frozen=True)
class DashboardView:
    restaurant: Restaurant
    waiting: tuple[Entry, ...]  # in queue order
    called: tuple[Entry, ...]  # called first first
    counts: DayCounts
    last_call_id: uuid.UUID | None  # what a call-next press from this view expects to still be the latest
    now: datetime
    # Notifications (issue 9): each active party's messages and replies, and the hold window.
    parties: Mapping[uuid.UUID, PartyNotices] = dataclasses.field(default_factory=dict)
    hold_minutes: int = 10
    auto_no_show: bool = False


@dataclass(frozen=True)
class PartyNotices:
    messages: tuple[MessageRecord, ...]
    replies: holds.GuestReplies


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def _call_times(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, now: datetime
) -> list[datetime]:
    return await history.recent_call_times(
        connection=connection,
        restaurant_id=restaurant_id,
        since=now - wait_estimate.HISTORY_WINDOW,
        limit=wait_estimate.SAMPLE_CALLS,
    )


class Views:
    def __init__(self, *, database: Database, estimates: Estimates | None = None) -> None:
        self._database = database
        self._estimates = estimates or Estimates(database=database)

    async def join_view(self, *, slug: str, now: datetime | None = None) -> JoinView:
        now = now or _utcnow()
        async with self._database.snapshot() as connection:
            restaurant = await restaurants.get_restaurant_by_slug(connection=connection, slug=slug)
            summary = await restaurants.queue_summary(connection=connection, restaurant=restaurant)
            calls = await _call_times(connection=connection, restaurant_id=restaurant.id, now=now)
        estimate = await self._estimates.estimate(
            restaurant_id=restaurant.id,
            position=summary.waiting_count + 1,
            party_size=TYPICAL_PARTY,
            call_times=calls,
            now=now,
        )
        return JoinView(summary=summary, estimate=estimate)

    async def guest_view(self, *, slug: str, entry_id: uuid.UUID, now: datetime | None = None) -> GuestView:
        now = now or _utcnow()
        async with self._database.snapshot() as connection:
            entry = await entries.get_entry_by_slug(connection=connection, slug=slug, entry_id=entry_id)
            restaurant = await restaurants.get_restaurant(
                connection=connection, restaurant_id=entry.restaurant_id
            )
            summary = await restaurants.queue_summary(connection=connection, restaurant=restaurant)
            calls = await _call_times(connection=connection, restaurant_id=restaurant.id, now=now)
            passed = await events.overtaken_by(
                connection=connection,
                restaurant_id=restaurant.id,
                entry_id=entry.id,
                token_number=entry.token_number,
                limit=OVERTAKEN_LIMIT,
            )
            said = await holds.replies(connection=connection, entry_ids=[entry.id])
        estimate = (
            await self._estimates.estimate(
                restaurant_id=restaurant.id,
                position=entry.position,
                party_size=entry.party_size,
                call_times=calls,
                now=now,
            )
            if entry.position
            else None
        )
        return GuestView(
            restaurant=restaurant,
            entry=entry,
            estimate=estimate,
            now_serving=summary.now_serving,
            overtaken=overtaking(token_number=entry.token_number, party_size=entry.party_size, called=passed),
            confirmed=said.get(entry.id, holds.GuestReplies()).confirmed,
        )

    async def board_view(self, *, slug: str) -> BoardView:
        async with self._database.snapshot() as connection:
            restaurant = await restaurants.get_restaurant_by_slug(connection=connection, slug=slug)
            summary = await restaurants.queue_summary(connection=connection, restaurant=restaurant)
            called = await history.last_called(
                connection=connection, restaurant_id=restaurant.id, limit=BOARD_TOKENS
            )
        return BoardView(summary=summary, called=tuple(called))

    async def dashboard_view(
        self, *, restaurant_id: uuid.UUID, zone: tzinfo, now: datetime | None = None
    ) -> DashboardView:
        now = now or _utcnow()
        day_start = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        async with self._database.snapshot() as connection:
            # Read before the list: on PostgreSQL each read sees its own moment, and a call made in between
            # must make this view's next press a refusal (409), never a second call.
            last_call_id = await events.last_called_entry(connection=connection, restaurant_id=restaurant_id)
            restaurant = await restaurants.get_restaurant(connection=connection, restaurant_id=restaurant_id)
            page = await entries.page(
                connection=connection,
                restaurant_id=restaurant_id,
                statuses=ACTIVE_STATUSES,
                after=0,
                limit=DASHBOARD_LIMIT,
            )
            counts = await history.day_counts(
                connection=connection, restaurant_id=restaurant_id, since=day_start
            )
            ids = [entry.id for entry in page.entries]
            messages = await outbox.for_entries(connection=connection, entry_ids=ids)
            said = await holds.replies(connection=connection, entry_ids=ids)
            hold_minutes, auto_no_show = await holds.hold_policy(
                connection=connection, restaurant_id=restaurant_id
            )
        called = sorted(
            (entry for entry in page.entries if entry.status is Status.CALLED),
            key=lambda entry: (entry.called_at or entry.created_at, entry.token_number),
        )
        return DashboardView(
            restaurant=restaurant,
            waiting=tuple(entry for entry in page.entries if entry.status is Status.WAITING),
            called=tuple(called),
            counts=counts,
            last_call_id=last_call_id,
            now=now,
            parties={
                entry_id: PartyNotices(
                    tuple(messages.get(entry_id, ())), said.get(entry_id, holds.GuestReplies())
                )
                for entry_id in ids
            },
            hold_minutes=hold_minutes,
            auto_no_show=auto_no_show,
        )
