"""The queue's use cases: join, call next, move an entry on, leave, pause and resume, list.

Each opens ONE transaction (``Database``), and every change inside it begins by locking the restaurant's
counter row (``store.events.lock_restaurant``, or the same lock taken inside the PostgreSQL functions): the
log's order is the order of the changes, and each change's event commits with it. Once the transaction has
ended, the outcome goes to the observer (metrics, logs, change signals).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from waitline import auth, phone
from waitline.domain import (
    GUEST,
    TRANSITION_EVENTS,
    TRANSITIONS,
    Actor,
    Entry,
    EntryPage,
    EventDraft,
    EventType,
    JoinRequest,
    NotAuthenticated,
    NotPermitted,
    OutsideHours,
    QueueChanged,
    QueueClosed,
    Restaurant,
    Status,
    Transition,
    TransitionNotAllowed,
    WaitlineError,
)
from waitline.domain.hours import is_open, next_opening, utcnow
from waitline.ratelimit import Decision, JoinLimits, LimitCheck, RateLimited, most_restrictive
from waitline.services.estimates import Estimates
from waitline.services.join_batching import JoinCoalescer
from waitline.services.outcomes import Observer, Outcome, failure
from waitline.store import admin, calls, emails, entries, events, guest_languages, joins, limits, restaurants
from waitline.store.constraints import DuplicateIdempotencyKey
from waitline.store.engine import Database
from waitline.store.join_batches import BatchedJoin


@dataclass(frozen=True)
class GuestContact:
    """What a guest gave besides the join itself: an email address, and the language they read."""

    email: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class Joined:
    entry: Entry
    created: bool
    # The most restrictive rate-limit decision this join was counted under, for the RateLimit headers.
    rate_limit: Decision | None


class Queue:
    def __init__(
        self,
        *,
        database: Database,
        limits: JoinLimits,
        observer: Observer,
        estimates: Estimates | None = None,
        join_batch_max: int = 0,
    ) -> None:
        self._database = database
        self._limits = limits
        self._observer = observer
        self._estimates = estimates or Estimates(database=database)
        # PostgreSQL: concurrent joins of one restaurant share one statement (services/join_batching.py).
        # SQLite's write queue serialises joins already; 0 turns coalescing off.
        self._coalescer = (
            JoinCoalescer(database=database, max_batch=join_batch_max)
            if join_batch_max > 0 and database.engine.dialect.name == "postgresql"
            else None
        )

    # --- guests -------------------------------------------------------------------------------------------

    async def join(
        self,
        *,
        slug: str,
        name: str,
        mobile: str,
        party_size: int,
        idempotency_key: str | None,
        client_ip: str,
        email: str | None = None,
        language: str | None = None,
    ) -> Joined:
        """Put a party in the queue, or return the entry this idempotency key already made.

        A replay is never counted by the rate limits; a join refused for any reason is counted by none.
        ``language``: the one the guest joined in, which their messages are written in (None: the location's
        default, read when each is sent).
        """
        try:
            try:
                joined, outcome = await self._join(
                    slug=slug,
                    name=name,
                    mobile=mobile,
                    party_size=party_size,
                    idempotency_key=idempotency_key,
                    client_ip=client_ip,
                    contact=GuestContact(email, language),
                )
            except OutsideHours:
                # The join's statement saw the hours closed; say when they open (or, had they opened in
                # between, that it is closed all the same: the join was refused).
                closed = await self.closed_for_hours(slug=slug)
                raise (closed or QueueClosed(outside_hours=True)) from None
        except WaitlineError as error:
            self._observer.observe(Outcome("join", failure(error), fields={"slug": slug}))
            raise
        if joined.created:
            # The range this party is quoted, kept for the analytics and later calibrations: queued here (no
            # I/O), quoted and written in batches by the background task, so the join never waits for it.
            self._estimates.enqueue(entry=joined.entry)
        entry = joined.entry
        self._observer.observe(
            Outcome(
                "join",
                "created" if joined.created else "replayed",
                entry.restaurant_id,
                entry,
                () if outcome is None or outcome.event is None else (outcome.event,),
                {"mobile": phone.mask(entry.mobile)},
            )
        )
        return joined

    async def closed_for_hours(self, *, slug: str) -> QueueClosed | None:
        """Outside opening hours now: the refusal a join would get (with the next opening); None when open."""
        async with self._database.snapshot() as connection:
            restaurant = await restaurants.get_restaurant_by_slug(connection=connection, slug=slug)
            settings = await admin.settings(connection=connection, restaurant_id=restaurant.id)
        now = utcnow()
        if is_open(settings.opening_hours, settings.closed_dates, settings.zone, now):
            return None
        opens_at = next_opening(settings.opening_hours, settings.closed_dates, settings.zone, now)
        if opens_at is None:
            return QueueClosed("The queue is closed: no opening hours are set ahead.", outside_hours=True)
        when = opens_at.strftime("%A %d %B at %H:%M")
        return QueueClosed(
            f"The queue is closed now. It opens on {when} ({settings.time_zone}).", opens_at=opens_at
        )

    async def _join(
        self,
        *,
        slug: str,
        name: str,
        mobile: str,
        party_size: int,
        idempotency_key: str | None,
        client_ip: str,
        contact: GuestContact,
    ) -> tuple[Joined, joins.JoinOutcome | None]:
        default_region = None
        if phone.needs_region(mobile):
            async with self._database.snapshot() as connection:
                restaurant = await restaurants.get_restaurant_by_slug(connection=connection, slug=slug)
            default_region = restaurant.default_region
        request = JoinRequest(
            slug=slug,
            name=name,
            mobile=phone.normalise(mobile, default_region=default_region),
            party_size=party_size,
            idempotency_key=idempotency_key,
        )
        checks = self._limits.checks(client_ip=client_ip, slug=slug, mobile=request.mobile)
        shared = self._limits.shared
        if shared is None:
            # Counted in the database, inside the join's own statement.
            outcome = await self._insert(request, checks, contact)
            return Joined(outcome.entry, outcome.created, most_restrictive(outcome.decisions)), outcome

        async with self._database.snapshot() as connection:
            replayed = await joins.find_replay(connection=connection, request=request)
        if replayed is not None:
            return Joined(replayed, False, None), None
        decision = most_restrictive(await shared.check(checks))
        if decision is not None and not decision.allowed:
            raise RateLimited(decision)
        try:
            outcome = await self._insert(request, (), contact)
        except WaitlineError:
            await shared.refund(checks)
            raise
        if not outcome.created:
            # A copy of this request raced us past the replay check: it was counted once already.
            await shared.refund(checks)
        return Joined(outcome.entry, outcome.created, decision if outcome.created else None), outcome

    async def _insert(
        self, request: JoinRequest, checks: Sequence[LimitCheck], contact: GuestContact
    ) -> joins.JoinOutcome:
        try:
            return await self._insert_once(request, checks, contact)
        except DuplicateIdempotencyKey:
            # A copy of this request committed first by a path the counter lock did not order (it should
            # not happen: the unique constraint is the backstop). Our transaction rolled back, token and all.
            return await self._insert_once(request, checks, contact)

    async def _insert_once(
        self, request: JoinRequest, checks: Sequence[LimitCheck], contact: GuestContact
    ) -> joins.JoinOutcome:
        now = self._limits.clock()
        if contact.email is None and contact.language is None:
            if self._coalescer is not None:
                return await self._coalescer.join(BatchedJoin(request, checks, now))
            async with self._database.single_statement() as connection:
                return await joins.join(connection=connection, request=request, limit_checks=checks, now=now)
        # With an email address or a language: kept in the join's own transaction (one more statement each),
        # so an entry never exists without the address or language its guest gave.
        async with self._database.transaction() as connection:
            outcome = await joins.join(connection=connection, request=request, limit_checks=checks, now=now)
            if outcome.created and contact.language is not None:
                await guest_languages.attach(
                    connection=connection, entry_id=outcome.entry.id, language=contact.language
                )
            if outcome.created and contact.email is not None:
                await emails.attach(connection=connection, entry_id=outcome.entry.id, email=contact.email)
            return outcome

    async def get_entry(self, *, slug: str, entry_id: uuid.UUID) -> Entry:
        async with self._database.snapshot() as connection:
            return await entries.get_entry_by_slug(connection=connection, slug=slug, entry_id=entry_id)

    async def leave(self, *, slug: str, entry_id: uuid.UUID) -> Entry:
        """The guest leaves the queue."""
        async with self._database.snapshot() as connection:
            entry = await entries.get_entry_by_slug(connection=connection, slug=slug, entry_id=entry_id)
        return await self.transition(
            restaurant_id=entry.restaurant_id,
            entry_id=entry_id,
            transition=Transition.LEAVE,
            actor=GUEST,
        )

    # --- staff --------------------------------------------------------------------------------------------

    async def call_next(
        self, *, restaurant_id: uuid.UUID, max_party_size: int | None, actor: Actor
    ) -> Entry | None:
        """Call the lowest waiting token (that fits a table of ``max_party_size``); None when nobody waits.

        One statement on PostgreSQL (``waitline_call_next``): concurrent callers get successive parties.
        """
        return await self._call(restaurant_id, max_party_size, actor, guarded=False, seen_last_call=None)

    async def staff_call_next(
        self,
        *,
        restaurant_id: uuid.UUID,
        max_party_size: int | None,
        seen_last_call: uuid.UUID | None,
        actor: Actor,
    ) -> Entry | None:
        """Call next from a dashboard that had seen ``seen_last_call`` as the latest call.

        Two devices pressing at once both saw the same latest call: the first calls a party, and the second
        finds that someone has called since and gets QueueChanged instead of calling a second party. The
        restaurant's counter lock orders the presses, and the log says which call was the latest.
        """
        return await self._call(
            restaurant_id, max_party_size, actor, guarded=True, seen_last_call=seen_last_call
        )

    async def _call(
        self,
        restaurant_id: uuid.UUID,
        max_party_size: int | None,
        actor: Actor,
        *,
        guarded: bool,
        seen_last_call: uuid.UUID | None,
    ) -> Entry | None:
        opened = self._database.transaction() if guarded else self._database.single_statement()
        try:
            async with opened as connection:
                if guarded:
                    await events.lock_restaurant(connection=connection, restaurant_id=restaurant_id)
                    latest = await events.last_called_entry(
                        connection=connection, restaurant_id=restaurant_id
                    )
                    if latest != seen_last_call:
                        raise QueueChanged()
                call = await calls.call_next(
                    connection=connection,
                    restaurant_id=restaurant_id,
                    max_party_size=max_party_size,
                    actor=actor,
                )
        except WaitlineError as error:
            self._observer.observe(Outcome("call_next", failure(error), restaurant_id))
            raise
        return self._called(restaurant_id, max_party_size, call)

    async def call_next_by_token(
        self, *, restaurant_id: uuid.UUID, bearer: str, max_party_size: int | None
    ) -> Entry | None:
        """``call_next`` through the staff API, as the bearer token ``bearer``: the token is checked in the
        claim's own statement (one round trip, not a lookup and then the claim). Raises NotAuthenticated
        (no such token, or revoked) or NotPermitted (another restaurant's), having changed nothing."""
        try:
            async with self._database.single_statement() as connection:
                claimed = await calls.call_next_by_token(
                    connection=connection,
                    token_hash=auth.token_hash(bearer),
                    restaurant_id=restaurant_id,
                    max_party_size=max_party_size,
                )
        except WaitlineError as error:
            self._observer.observe(Outcome("call_next", failure(error), restaurant_id))
            raise
        # Refused by the policy's own rule (web/policy.py): not a press of call-next, so not counted as one.
        if claimed.token is None:
            raise NotAuthenticated()
        if claimed.token.restaurant_id != restaurant_id:
            raise NotPermitted()
        return self._called(restaurant_id, max_party_size, claimed.call)

    def _called(
        self, restaurant_id: uuid.UUID, max_party_size: int | None, call: calls.Call | None
    ) -> Entry | None:
        if call is None:
            self._observer.observe(Outcome("call_next", "empty", restaurant_id))
            return None
        fields = {} if max_party_size is None else {"max_party_size": max_party_size}
        self._observer.observe(
            Outcome("call_next", "called", restaurant_id, call.entry, (call.event,), fields)
        )
        return call.entry

    async def transition(
        self, *, restaurant_id: uuid.UUID, entry_id: uuid.UUID, transition: Transition, actor: Actor
    ) -> Entry:
        """Seat, mark as no-show, cancel or leave, if the entry's current status allows it.

        Raises EntryNotFound (not this restaurant's) or TransitionNotAllowed, which carries the entry's
        token and status now (another device may have acted first).
        """
        try:
            async with self._database.transaction() as connection:
                await events.lock_restaurant(connection=connection, restaurant_id=restaurant_id)
                changed = await entries.apply_transition(
                    connection=connection,
                    restaurant_id=restaurant_id,
                    entry_id=entry_id,
                    rule=TRANSITIONS[transition],
                )
                if changed is None:
                    # Nothing changed: the entry is missing here (404) or its status does not allow it (409).
                    current = await entries.get_entry(
                        connection=connection, restaurant_id=restaurant_id, entry_id=entry_id
                    )
                    raise TransitionNotAllowed(token_number=current.token_number, status=current.status.value)
                draft = EventDraft(
                    TRANSITION_EVENTS[transition],
                    actor,
                    entry_id=changed.id,
                    token_number=changed.token_number,
                )
                event = await events.append(connection=connection, restaurant_id=restaurant_id, draft=draft)
        except WaitlineError as error:
            self._observer.observe(Outcome(transition.value, failure(error), restaurant_id))
            raise
        self._observer.observe(Outcome(transition.value, "done", restaurant_id, changed, (event,)))
        return changed

    async def set_open(self, *, restaurant_id: uuid.UUID, queue_open: bool, actor: Actor) -> Restaurant:
        """Open or pause the queue; the waiting parties stay. Doing what is already so changes nothing."""
        action = "resume" if queue_open else "pause"
        async with self._database.transaction() as connection:
            await events.lock_restaurant(connection=connection, restaurant_id=restaurant_id)
            changed = await restaurants.set_queue_open(
                connection=connection, restaurant_id=restaurant_id, queue_open=queue_open
            )
            if changed is None:
                current = await restaurants.get_restaurant(connection=connection, restaurant_id=restaurant_id)
            else:
                draft = EventDraft(EventType.RESUMED if queue_open else EventType.PAUSED, actor)
                event = await events.append(connection=connection, restaurant_id=restaurant_id, draft=draft)
        if changed is None:
            self._observer.observe(Outcome(action, "unchanged", restaurant_id))
            return current
        self._observer.observe(Outcome(action, "done", restaurant_id, events=(event,)))
        return changed

    async def list_entries(
        self, *, restaurant_id: uuid.UUID, statuses: Iterable[Status], after: int = 0, limit: int
    ) -> EntryPage:
        """A page of the restaurant's entries in token order, after the token ``after``."""
        async with self._database.snapshot() as connection:
            return await entries.page(
                connection=connection,
                restaurant_id=restaurant_id,
                statuses=statuses,
                after=after,
                limit=limit,
            )

    async def sweep_rate_limits(self, *, now: float) -> int:
        async with self._database.transaction() as connection:
            return await limits.sweep(connection=connection, now=now)
