"""One function per use case, each in one transaction opened here and nowhere else.

Every function is keyword-only and takes the ``Database``; the web layer and the CLI call nothing below this.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from waitline import auth, phone
from waitline.domain import (
    TRANSITIONS,
    Entry,
    JoinRequest,
    NotAuthenticated,
    NotPermitted,
    QueueSummary,
    Restaurant,
    Status,
    Transition,
    TransitionNotAllowed,
    WaitlineError,
)
from waitline.ratelimit import Decision, JoinLimits, LimitCheck, RateLimited, most_restrictive
from waitline.store import queries
from waitline.store.engine import Database

# One event per queue operation; the request id comes from the request's context.
_log = structlog.get_logger("waitline.queue")


def _logged(event: str, entry: Entry, **fields: object) -> None:
    _log.info(
        event,
        restaurant_id=str(entry.restaurant_id),
        entry_id=str(entry.id),
        token=entry.token_number,
        status=entry.status.value,
        **fields,
    )


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


@dataclass(frozen=True)
class Joined:
    entry: Entry
    created: bool
    # The most restrictive rate-limit decision this join was counted under, for the RateLimit headers.
    rate_limit: Decision | None


async def join(
    *,
    database: Database,
    limits: JoinLimits,
    slug: str,
    name: str,
    mobile: str,
    party_size: int,
    idempotency_key: str | None,
    client_ip: str,
) -> Joined:
    """Put a party in the queue, or return the entry this idempotency key already made.

    A replay is never counted by the rate limits; a join refused for any reason is counted by none.
    """
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
    checks = limits.checks(client_ip=client_ip, slug=slug, mobile=request.mobile)
    if limits.shared is None:
        # Counted in the database, inside the join's own statement.
        outcome = await _join(database=database, request=request, checks=checks, now=limits.clock())
        _logged_join(outcome.entry, created=outcome.created, mobile=request.mobile)
        return Joined(outcome.entry, outcome.created, most_restrictive(outcome.decisions))

    async with database.snapshot() as connection:
        replayed = await queries.find_replay(connection=connection, request=request)
    if replayed is not None:
        _logged_join(replayed, created=False, mobile=request.mobile)
        return Joined(replayed, False, None)
    decision = most_restrictive(await limits.shared.check(checks))
    if decision is not None and not decision.allowed:
        raise RateLimited(decision)
    try:
        outcome = await _join(database=database, request=request, checks=(), now=limits.clock())
    except WaitlineError:
        await limits.shared.refund(checks)
        raise
    if not outcome.created:
        # A copy of this request raced us past the replay check: it was counted once already.
        await limits.shared.refund(checks)
    _logged_join(outcome.entry, created=outcome.created, mobile=request.mobile)
    return Joined(outcome.entry, outcome.created, decision if outcome.created else None)


def _logged_join(entry: Entry, *, created: bool, mobile: str) -> None:
    _logged("queue.join", entry, outcome="created" if created else "replayed", mobile=phone.mask(mobile))


async def _join(
    *, database: Database, request: JoinRequest, checks: Sequence[LimitCheck], now: float
) -> queries.JoinOutcome:
    try:
        async with database.single_statement() as connection:
            return await queries.join(connection=connection, request=request, limit_checks=checks, now=now)
    except queries.DuplicateIdempotencyKey:
        # A copy of this request committed first by a path the counter lock did not order (it should
        # not happen: the unique constraint is the backstop). Our transaction rolled back, token and all.
        async with database.single_statement() as connection:
            return await queries.join(connection=connection, request=request, limit_checks=checks, now=now)


async def sweep_rate_limits(*, database: Database, now: float) -> int:
    async with database.transaction() as connection:
        return await queries.sweep_rate_limits(connection=connection, now=now)


async def get_entry(*, database: Database, slug: str, entry_id: uuid.UUID) -> Entry:
    async with database.snapshot() as connection:
        return await queries.get_entry_by_slug(connection=connection, slug=slug, entry_id=entry_id)


async def leave(*, database: Database, slug: str, entry_id: uuid.UUID) -> Entry:
    """The guest leaves the queue."""
    async with database.transaction() as connection:
        entry = await queries.get_entry_by_slug(connection=connection, slug=slug, entry_id=entry_id)
        left = await _apply_transition(
            connection=connection,
            restaurant_id=entry.restaurant_id,
            entry_id=entry_id,
            transition=Transition.LEAVE,
        )
    _logged("queue.transition", left, action=Transition.LEAVE.value)
    return left


async def transition(
    *, database: Database, restaurant_id: uuid.UUID, entry_id: uuid.UUID, transition: Transition
) -> Entry:
    """Seat, mark as no-show or cancel an entry, if its current status allows it."""
    async with database.transaction() as connection:
        changed = await _apply_transition(
            connection=connection, restaurant_id=restaurant_id, entry_id=entry_id, transition=transition
        )
    _logged("queue.transition", changed, action=transition.value)
    return changed


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
        called = await queries.claim_next(
            connection=connection, restaurant_id=restaurant_id, max_party_size=max_party_size
        )
    if called is None:
        _log.info("queue.call_next", restaurant_id=str(restaurant_id), outcome="empty")
    else:
        _logged("queue.call_next", called, outcome="called", max_party_size=max_party_size)
    return called


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
