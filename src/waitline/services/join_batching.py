"""Coalescing: the concurrent joins of one restaurant within this process go to PostgreSQL together.

A restaurant's joins are serialised by its counter row lock anyway; one at a time they queue for that lock,
each with its own round trip and commit. Here the first join of a restaurant starts a batch at once (no
timer: a lone join waits for nothing, and a batch of one is the single join's own statement). Joins that
arrive while a batch is in flight wait for it to end, then all of them, up to ``max_batch``, form the next
batch: ONE statement (``waitline_join_batch``), one lock, one commit. Each join is answered only once its
batch has committed, with its own outcome: one join refused or failed inside a batch fails no other. If the
database is unavailable, every join in the batch gets the 503 each alone would have got. See
CONCURRENCY_DESIGN.md, "Coalesced joins".
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

_Waiting = tuple[BatchedJoin, "asyncio.Future[JoinOutcome]"]


class JoinCoalescer:
    def __init__(self, *, database: Database, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self._database = database
        self._max_batch = max_batch
        self._waiting: dict[str, list[_Waiting]] = {}
        # One task per restaurant with joins in flight: it runs that restaurant's batches one after another.
        self._draining: dict[str, asyncio.Task[None]] = {}

    async def join(self, join: BatchedJoin) -> JoinOutcome:
        """This join's outcome once the batch it went in has committed; raises what the join alone would."""
        slug = join.request.slug
        answer: asyncio.Future[JoinOutcome] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(slug, []).append((join, answer))
        if slug not in self._draining:
            self._draining[slug] = asyncio.create_task(self._drain(slug))
        # A caller that gives up (its request cancelled) stops waiting; the batch goes on for the others.
        return await answer

    async def _drain(self, slug: str) -> None:
        try:
            while waiting := self._waiting.get(slug):
                batch = waiting[: self._max_batch]
                del waiting[: self._max_batch]
                if not waiting:
                    del self._waiting[slug]
                await self._run(slug, batch)
        finally:
            # No await between the loop's last look and here: a join that arrives now starts a new task.
            del self._draining[slug]

    async def _run(self, slug: str, batch: list[_Waiting]) -> None:
        outcomes: list[JoinOutcome | Exception]
        try:
            async with self._database.single_statement() as connection:
                if len(batch) == 1:
                    # Alone: the single join's own statement, as without coalescing (nothing added).
                    join = batch[0][0]
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
