"""One function per use case, each in one transaction opened here and nowhere else.

Every function is keyword-only and takes the ``Database``; the web layer and the CLI call nothing below this.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from waitline import auth, phone, wait_estimate
from waitline.domain import (
    ACTIVE_STATUSES,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    TRANSITIONS,
    CalledToken,
    DayCounts,
    Entry,
    JoinRequest,
    LoginFailed,
    LoginThrottled,
    NotAuthenticated,
    NotPermitted,
    PasswordUnacceptable,
    QueueChanged,
    QueueSummary,
    Restaurant,
    StaffMember,
    StaffSession,
    Status,
    Transition,
    TransitionNotAllowed,
    WaitlineError,
    normalise_email,
)
from waitline.ratelimit import Decision, JoinLimits, LimitCheck, RateLimited, RatePolicy, most_restrictive
from waitline.store import history, notifications, queries, staff
from waitline.store.engine import Database
from waitline.wait_estimate import WaitEstimate

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
    *,
    database: Database,
    restaurant_id: uuid.UUID,
    entry_id: uuid.UUID,
    transition: Transition,
    explain: bool = False,
) -> Entry:
    """Seat, mark as no-show or cancel an entry, if its current status allows it.

    With ``explain``, a refusal says what the entry's status is now (for the staff pages).
    """
    async with database.transaction() as connection:
        changed = await _apply_transition(
            connection=connection,
            restaurant_id=restaurant_id,
            entry_id=entry_id,
            transition=transition,
            explain=explain,
        )
    _logged("queue.transition", changed, action=transition.value)
    return changed


_STATUS_WORDS = {
    Status.WAITING: "still waiting",
    Status.CALLED: "called",
    Status.SEATED: "seated",
    Status.NO_SHOW: "marked as a no-show",
    Status.CANCELLED: "cancelled",
}


async def _apply_transition(
    *,
    connection: AsyncConnection,
    restaurant_id: uuid.UUID,
    entry_id: uuid.UUID,
    transition: Transition,
    explain: bool = False,
) -> Entry:
    changed = await queries.apply_transition(
        connection=connection, restaurant_id=restaurant_id, entry_id=entry_id, rule=TRANSITIONS[transition]
    )
    if changed is None:
        # Nothing changed: the entry is missing here (404) or its status does not allow it (409).
        current = await queries.get_entry(
            connection=connection, restaurant_id=restaurant_id, entry_id=entry_id
        )
        if explain:
            raise TransitionNotAllowed(
                f"Nothing changed: token {current.token_number} is already {_STATUS_WORDS[current.status]}."
            )
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


# --- staff accounts and sessions --------------------------------------------------------------------------

# Five attempts in a row may fail freely; from the fifth on, each failure locks the email out for twice as
# long as the one before (30 s, 1 min, 2 min, ... at most 15 min). A run of failures is forgotten after a day.
LOGIN_FREE_ATTEMPTS = 5
LOGIN_FIRST_LOCKOUT = timedelta(seconds=30)
LOGIN_MAX_LOCKOUT = timedelta(minutes=15)
LOGIN_FORGET_AFTER = timedelta(days=1)


def login_lockout(attempt_number: int) -> timedelta | None:
    """How long a failure of this attempt (1 = the first in a row) locks the email out; None: not at all."""
    if attempt_number < LOGIN_FREE_ATTEMPTS:
        return None
    doublings = min(attempt_number - LOGIN_FREE_ATTEMPTS, 10)
    return min(LOGIN_FIRST_LOCKOUT * (1 << doublings), LOGIN_MAX_LOCKOUT)


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def create_staff(
    *, database: Database, slug: str, email: str, password: str, reset_existing: bool = False
) -> StaffMember:
    """A staff login for the restaurant; with ``reset_existing`` an existing one gets the new password."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise PasswordUnacceptable()
    password_hash = await asyncio.to_thread(auth.hash_password, password)
    async with database.transaction() as connection:
        restaurant = await queries.get_restaurant_by_slug(connection=connection, slug=slug)
        return await staff.create_staff(
            connection=connection,
            restaurant_id=restaurant.id,
            email=normalise_email(email),
            password_hash=password_hash,
            reset_existing=reset_existing,
        )


async def count_sign_in_attempt(
    *, database: Database, policy: RatePolicy | None, client_ip: str, now: float
) -> None:
    """Count a sign-in attempt from this address before any password is hashed; RateLimited past the policy.

    The per-account throttle in ``log_in`` protects one account; this keeps one client from spending the
    server's CPU on argon2id hashes across many made-up accounts.
    """
    if policy is None:
        return
    async with database.single_statement() as connection:
        await queries.hit_limits(
            connection=connection, checks=[LimitCheck(f"sign-in:{client_ip}", policy)], now=now
        )


async def log_in(
    *,
    database: Database,
    slug: str,
    email: str,
    password: str,
    session_lifetime: timedelta,
    now: datetime | None = None,
) -> str:
    """A new session secret for the cookie, once the email and password match a staff account here.

    Raises LoginFailed (the same for an unknown email as for a wrong password, after the same work) or
    LoginThrottled. The attempt is counted before the password is checked, and the check runs between two
    short transactions: a hash that takes tens of milliseconds must hold neither a row lock nor SQLite's
    write lock, nor a pooled connection.
    """
    now = now or _utcnow()
    email = normalise_email(email)
    async with database.transaction() as connection:
        restaurant = await queries.get_restaurant_by_slug(connection=connection, slug=slug)
        attempt = await staff.reserve_login_attempt(
            connection=connection,
            restaurant_id=restaurant.id,
            email=email,
            now=now,
            forget_before=now - LOGIN_FORGET_AFTER,
        )
        if isinstance(attempt, datetime):
            raise LoginThrottled(retry_after_seconds=math.ceil((attempt - now).total_seconds()))
        lockout = login_lockout(attempt.number)
        if lockout is not None:
            # Set before the password is checked, so attempts racing this one are refused meanwhile;
            # a correct password lifts it again below.
            await staff.lock_login(
                connection=connection, restaurant_id=restaurant.id, email=email, until=now + lockout
            )
        if attempt.number == 1:
            await staff.forget_old_login_attempts(
                connection=connection, restaurant_id=restaurant.id, forget_before=now - LOGIN_FORGET_AFTER
            )
        credentials = await staff.staff_credentials(
            connection=connection, restaurant_id=restaurant.id, email=email
        )

    def check() -> tuple[bool, str | None]:
        if credentials is None:
            auth.verify_password(auth.unknown_user_hash(), password)
            return False, None
        password_hash = credentials[1]
        if not auth.verify_password(password_hash, password):
            return False, None
        return True, auth.hash_password(password) if auth.needs_rehash(password_hash) else None

    matched, new_hash = await asyncio.to_thread(check)
    if credentials is None or not matched:
        raise LoginFailed()
    member = credentials[0]
    secret = auth.new_session_secret()
    async with database.transaction() as connection:
        await staff.clear_login_attempts(connection=connection, restaurant_id=restaurant.id, email=email)
        await staff.delete_expired_sessions(connection=connection, staff_id=member.id, now=now)
        await staff.create_session(
            connection=connection,
            token_hash=auth.token_hash(secret),
            staff_id=member.id,
            expires_at=now + session_lifetime,
        )
        if new_hash is not None:
            await staff.set_password_hash(connection=connection, staff_id=member.id, password_hash=new_hash)
    return secret


async def staff_session(
    *, database: Database, secret: str | None, slug: str, now: datetime | None = None
) -> StaffSession:
    """The signed-in staff member, if ``secret`` is a live session of this very restaurant.

    Raises NotAuthenticated (no such session, or it expired) or NotPermitted (another restaurant's).
    """
    if not secret:
        raise NotAuthenticated()
    async with database.snapshot() as connection:
        found = await staff.session(
            connection=connection, token_hash=auth.token_hash(secret), now=now or _utcnow()
        )
    if found is None:
        raise NotAuthenticated()
    if found.restaurant.slug != slug:
        raise NotPermitted("You are signed in for another restaurant.")
    return found


async def log_out(*, database: Database, secret: str) -> None:
    async with database.transaction() as connection:
        await staff.delete_session(connection=connection, token_hash=auth.token_hash(secret))


async def staff_call_next(
    *,
    database: Database,
    restaurant_id: uuid.UUID,
    max_party_size: int | None,
    seen_last_call: uuid.UUID | None,
) -> Entry | None:
    """Call next from a dashboard that had seen ``seen_last_call`` as the latest call.

    Two devices pressing at once both saw the same latest call: the first calls a party, and the second
    finds that someone has called since and gets QueueChanged instead of calling a second party. Presses
    are ordered by a lock on the restaurant row (SQLite: by BEGIN IMMEDIATE).
    """
    async with database.transaction() as connection:
        await history.lock_calls(connection=connection, restaurant_id=restaurant_id)
        if await history.last_call_id(connection=connection, restaurant_id=restaurant_id) != seen_last_call:
            raise QueueChanged()
        return await queries.claim_next(
            connection=connection, restaurant_id=restaurant_id, max_party_size=max_party_size
        )


# --- what the pages show ----------------------------------------------------------------------------------

DASHBOARD_LIMIT = 1000
BOARD_TOKENS = 6


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


async def _call_times(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, now: datetime
) -> list[datetime]:
    return await history.recent_call_times(
        connection=connection,
        restaurant_id=restaurant_id,
        since=now - wait_estimate.HISTORY_WINDOW,
        limit=wait_estimate.SAMPLE_CALLS,
    )


async def join_view(*, database: Database, slug: str, now: datetime | None = None) -> JoinView:
    now = now or _utcnow()
    async with database.snapshot() as connection:
        restaurant = await queries.get_restaurant_by_slug(connection=connection, slug=slug)
        summary = await queries.queue_summary(connection=connection, restaurant=restaurant)
        calls = await _call_times(connection=connection, restaurant_id=restaurant.id, now=now)
    estimate = wait_estimate.estimate_wait(position=summary.waiting_count + 1, call_times=calls, now=now)
    return JoinView(summary=summary, estimate=estimate)


async def guest_view(
    *, database: Database, slug: str, entry_id: uuid.UUID, now: datetime | None = None
) -> GuestView:
    now = now or _utcnow()
    async with database.snapshot() as connection:
        entry = await queries.get_entry_by_slug(connection=connection, slug=slug, entry_id=entry_id)
        restaurant = await queries.get_restaurant(connection=connection, restaurant_id=entry.restaurant_id)
        summary = await queries.queue_summary(connection=connection, restaurant=restaurant)
        calls = await _call_times(connection=connection, restaurant_id=restaurant.id, now=now)
    estimate = (
        wait_estimate.estimate_wait(position=entry.position, call_times=calls, now=now)
        if entry.position
        else None
    )
    return GuestView(restaurant=restaurant, entry=entry, estimate=estimate, now_serving=summary.now_serving)


async def board_view(*, database: Database, slug: str) -> BoardView:
    async with database.snapshot() as connection:
        restaurant = await queries.get_restaurant_by_slug(connection=connection, slug=slug)
        summary = await queries.queue_summary(connection=connection, restaurant=restaurant)
        called = await history.last_called(
            connection=connection, restaurant_id=restaurant.id, limit=BOARD_TOKENS
        )
    return BoardView(summary=summary, called=tuple(called))


async def dashboard_view(
    *, database: Database, restaurant_id: uuid.UUID, zone: tzinfo, now: datetime | None = None
) -> DashboardView:
    now = now or _utcnow()
    day_start = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    async with database.snapshot() as connection:
        # Read before the list: on PostgreSQL each read sees its own moment, and a call made in between must
        # make this view's next press a refusal (409), never a second call.
        last_call_id = await history.last_call_id(connection=connection, restaurant_id=restaurant_id)
        restaurant = await queries.get_restaurant(connection=connection, restaurant_id=restaurant_id)
        entries = await queries.list_entries(
            connection=connection,
            restaurant_id=restaurant_id,
            statuses=ACTIVE_STATUSES,
            limit=DASHBOARD_LIMIT,
        )
        counts = await history.day_counts(connection=connection, restaurant_id=restaurant_id, since=day_start)
    called = sorted(
        (entry for entry in entries if entry.status is Status.CALLED),
        key=lambda entry: (entry.called_at or entry.created_at, entry.token_number),
    )
    return DashboardView(
        restaurant=restaurant,
        waiting=tuple(entry for entry in entries if entry.status is Status.WAITING),
        called=tuple(called),
        counts=counts,
        last_call_id=last_call_id,
        now=now,
    )


async def queue_versions(*, database: Database, restaurant_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """SQLite: the change counters the live pages poll (PostgreSQL sends NOTIFY instead)."""
    async with database.snapshot() as connection:
        return await notifications.queue_versions(connection=connection, restaurant_ids=restaurant_ids)
