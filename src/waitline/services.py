"""One function per use case, each in one transaction opened here and nowhere else.

Every function is keyword-only and takes the ``Database``; the web layer and the CLI call nothing below this.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline import auth, phone
from waitline.domain import (
    TRANSITIONS,
    Entry,
    JoinRequest,
    JoinResult,
    NotAuthenticated,
    NotPermitted,
    QueueSummary,
    Restaurant,
    Status,
    Transition,
    TransitionNotAllowed,
)
from waitline.store import queries
from waitline.store.engine import Database


async def create_restaurant(
    *, database: Database, slug: str, name: str, default_region: str | None = None
) -> Restaurant:
    async with database.transaction() as connection:
        return await queries.create_restaurant(
            connection=connection, slug=slug, name=name, default_region=default_region
        )


async def get_restaurant(*, database: Database, slug: str) -> Restaurant:
    async with database.snapshot() as connection:
        return await queries.get_restaurant_by_slug(connection=connection, slug=slug)


async def set_queue_open(*, database: Database, restaurant_id: uuid.UUID, queue_open: bool) -> Restaurant:
    async with database.transaction() as connection:
        return await queries.set_queue_open(
            connection=connection, restaurant_id=restaurant_id, queue_open=queue_open
        )


async def create_api_token(*, database: Database, slug: str) -> str:
    """A new staff token for the restaurant; the secret is returned once and never stored."""
    token = auth.new_token()
    async with database.transaction() as connection:
        restaurant = await queries.get_restaurant_by_slug(connection=connection, slug=slug)
        await queries.create_api_token(
            connection=connection, restaurant_id=restaurant.id, token_hash=auth.token_hash(token)
        )
    return token


async def authorise_staff(*, database: Database, token: str | None, restaurant_id: uuid.UUID) -> None:
    """Raises unless ``token`` is a staff token of this very restaurant."""
    if not token:
        raise NotAuthenticated()
    async with database.snapshot() as connection:
        owner = await queries.restaurant_for_token(connection=connection, token_hash=auth.token_hash(token))
    if owner is None:
        raise NotAuthenticated()
    if owner != restaurant_id:
        raise NotPermitted()


async def join(
    *,
    database: Database,
    slug: str,
    name: str,
    mobile: str,
    party_size: int,
    idempotency_key: str | None,
) -> JoinResult:
    """Put a party in the queue, or return the entry this idempotency key already made."""
    default_region = None
    if phone.needs_region(mobile):
        default_region = (await get_restaurant(database=database, slug=slug)).default_region
    request = JoinRequest(
        slug=slug,
        name=name,
        mobile=phone.normalise(mobile, default_region=default_region),
        party_size=party_size,
        idempotency_key=idempotency_key,
    )
    try:
        async with database.single_statement() as connection:
            entry, created = await queries.join(connection=connection, request=request)
    except queries.DuplicateIdempotencyKey:
        # A copy of this request committed first by a path the counter lock did not order (it should
        # not happen: the unique constraint is the backstop). Our transaction rolled back, token and all.
        async with database.single_statement() as connection:
            entry, created = await queries.join(connection=connection, request=request)
    return JoinResult(entry=entry, created=created)


async def get_entry(*, database: Database, slug: str, entry_id: uuid.UUID) -> Entry:
    async with database.snapshot() as connection:
        return await queries.get_entry_by_slug(connection=connection, slug=slug, entry_id=entry_id)


async def leave(*, database: Database, slug: str, entry_id: uuid.UUID) -> Entry:
    """The guest leaves the queue."""
    async with database.transaction() as connection:
        entry = await queries.get_entry_by_slug(connection=connection, slug=slug, entry_id=entry_id)
        return await _apply_transition(
            connection=connection,
            restaurant_id=entry.restaurant_id,
            entry_id=entry_id,
            transition=Transition.LEAVE,
        )


async def transition(
    *, database: Database, restaurant_id: uuid.UUID, entry_id: uuid.UUID, transition: Transition
) -> Entry:
    """Seat, mark as no-show or cancel an entry, if its current status allows it."""
    async with database.transaction() as connection:
        return await _apply_transition(
            connection=connection, restaurant_id=restaurant_id, entry_id=entry_id, transition=transition
        )


async def _apply_transition(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, entry_id: uuid.UUID, transition: Transition
) -> Entry:
    changed = await queries.apply_transition(
        connection=connection, restaurant_id=restaurant_id, entry_id=entry_id, rule=TRANSITIONS[transition]
    )
    if changed is None:
        # Nothing changed: the entry is missing here (404) or its status does not allow it (409).
        await queries.get_entry(connection=connection, restaurant_id=restaurant_id, entry_id=entry_id)
        raise TransitionNotAllowed()
    return changed


async def call_next(
    *, database: Database, restaurant_id: uuid.UUID, max_party_size: int | None = None
) -> Entry | None:
    """Call the lowest waiting token (that fits a table of ``max_party_size``); None when nobody waits."""
    async with database.single_statement() as connection:
        return await queries.claim_next(
            connection=connection, restaurant_id=restaurant_id, max_party_size=max_party_size
        )


async def list_entries(
    *, database: Database, restaurant_id: uuid.UUID, statuses: Iterable[Status], limit: int
) -> list[Entry]:
    async with database.snapshot() as connection:
        return await queries.list_entries(
            connection=connection, restaurant_id=restaurant_id, statuses=statuses, limit=limit
        )


async def queue_summary(*, database: Database, slug: str) -> QueueSummary:
    async with database.snapshot() as connection:
        restaurant = await queries.get_restaurant_by_slug(connection=connection, slug=slug)
        return await queries.queue_summary(connection=connection, restaurant=restaurant)
