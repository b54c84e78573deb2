"""Coalescing: the concurrent joins of one restaurant within this process go to PostgreSQL together.

A restaurant's joins are serialised by its counter row lock anyway; one at a time they queue for that lock,
each with its own round trip and commit. Here at most ``max_in_flight`` statements of one restaurant are
in flight from this process at once. A join that finds a place free goes at once, alone, in its caller's
own task, as the single join's statement (no timer: a lone join waits for nothing and costs nothing more).
Joins that arrive while every place is taken queue; when a statement ends, all of them, up to
``max_batch``, go as the next batch: ONE statement (``waitline_join_batch``), one lock, one commit. A few
statements in flight let the next one wait at the row lock while the previous commits.

Each join is answered only once its statement has committed, with its own outcome: one join refused or
failed inside a batch fails no other. If the database is unavailable, every join in the batch gets the 503
each alone would have got. A join queued longer than the pool timeout is turned away with 503, as one
waiting for a connection would be. See CONCURRENCY_DESIGN.md, "Coalesced joins".
"""

from __future__ import annotations

import asyncio
import copy

from waitline.domain import ServiceUnavailable
from waitline.store import join_batches, joins
from waitline.store.engine import Database
from waitline.store.join_batches import BatchedJoin
from waitline.store.joins import JoinOutcome

DEFAULT_MAX_BATCH = 32
DEFAULT_MAX_IN_FLIGHT = 4

_Waiting = tuple[BatchedJoin, "asyncio.Future[JoinOutcome]"]


class JoinCoalescer:
    def __init__(
        self,
        *,
        database: Database,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        self._database = database
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._waiting: dict[str, list[_Waiting]] = {}
        self._in_flight: dict[str, int] = {}
        self._batches: set[asyncio.Task[None]] = set()  # held here: the loop keeps only weak references

    async def join(self, join: BatchedJoin) -> JoinOutcome:
        """This join's outcome once its statement has committed; raises what the join alone would."""
        slug = join.request.slug
        if self._in_flight.get(slug, 0) < self._max_in_flight and not self._waiting.get(slug):
            return await self._alone(slug, join)
        answer: asyncio.Future[JoinOutcome] = asyncio.get_running_loop().create_future()
        waiting = (join, answer)
        self._waiting.setdefault(slug, []).append(waiting)
        self._start_batches(slug)
        try:
            async with asyncio.timeout(self._database.pool_timeout_seconds):
                return await asyncio.shield(answer)
        except TimeoutError:
            if self._unqueue(slug, waiting):
                # Still queued behind statements that do not end (the database stuck, the lock held):
                # turned away as a join waiting for a connection would be, and never written.
                raise ServiceUnavailable() from None
            return await answer  # its batch is running: answered when it ends (the transaction timeout)
        except asyncio.CancelledError:
            # The caller gave up (its request cancelled): a queued join is dropped; a running batch goes on
            # for the others, and this join's answer goes to nobody.
            if not self._unqueue(slug, waiting):
                answer.add_done_callback(_ignore)
            raise

    async def _alone(self, slug: str, join: BatchedJoin) -> JoinOutcome:
        """The single join's own statement, in its caller's task, exactly as without coalescing."""
        self._in_flight[slug] = self._in_flight.get(slug, 0) + 1
        try:
            async with self._database.single_statement() as connection:
                return await joins.join(
                    connection=connection, request=join.request, limit_checks=join.limit_checks, now=join.now
                )
        finally:
            self._release(slug)

    def _release(self, slug: str) -> None:
        self._in_flight[slug] -= 1
        if not self._in_flight[slug]:
            del self._in_flight[slug]
        self._start_batches(slug)

    def _start_batches(self, slug: str) -> None:
        """While a place is free, the queued joins (up to ``max_batch``) go as one batch."""
        while self._waiting.get(slug) and self._in_flight.get(slug, 0) < self._max_in_flight:
            queued = self._waiting[slug]
            batch = queued[: self._max_batch]
            del queued[: self._max_batch]
            if not queued:
                del self._waiting[slug]
            self._in_flight[slug] = self._in_flight.get(slug, 0) + 1
            task = asyncio.create_task(self._run_batch(slug, batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    def _unqueue(self, slug: str, waiting: _Waiting) -> bool:
        """Take a join out of its restaurant's queue; False when its batch has already taken it."""
        queued = self._waiting.get(slug, [])
        if not any(waiting[1] is answer for _, answer in queued):
            return False
        queued[:] = [item for item in queued if item[1] is not waiting[1]]
        if not queued:
            self._waiting.pop(slug, None)
        return True

    async def _run_batch(self, slug: str, batch: list[_Waiting]) -> None:
        try:
            await self._run(slug, batch)
        finally:
            self._release(slug)

    async def _run(self, slug: str, batch: list[_Waiting]) -> None:
        outcomes: list[JoinOutcome | Exception]
        try:
            async with self._database.single_statement() as connection:
                if len(batch) == 1:
                    join = batch[0][0]  # one: the single join's own statement
                    outcomes = [
                        await joins.join(
                            connection=connection,
                            request=join.request,
                            limit_checks=join.limit_checks,
                            now=join.now,
                        )
                    ]
                else:
                    outcomes = await join_batches.join_batch(
                        connection=connection, slug=slug, joins=[join for join, _ in batch]
                    )
        except asyncio.CancelledError:
            for _, answer in batch:
                answer.cancel()
            raise
        except ServiceUnavailable as error:
            # The database is down or busy: every join gets the 503 it would have got alone (when the
            # connection broke during the commit, nobody knows whether it committed: retry with the key).
            outcomes = [error] if len(batch) == 1 else [copy.copy(error) for _ in batch]
        except Exception as error:
            if len(batch) == 1:
                outcomes = [error]  # its refusal
            else:
                # The database refused the batch's statement itself (nothing committed): one join's value
                # must fail no other, so each goes again alone and gets its own answer.
                for waiting in batch:
                    await self._run(slug, [waiting])
                return
        for (_, answer), outcome in zip(batch, outcomes, strict=True):
            if answer.done():
                continue  # its caller gave up waiting
            if isinstance(outcome, Exception):
                answer.set_exception(outcome)
            else:
                answer.set_result(outcome)


def _ignore(answer: asyncio.Future[JoinOutcome]) -> None:
    """Retrieve an answer nobody waits for any more (else asyncio logs it as never retrieved)."""
    if not answer.cancelled():
        answer.exception()
