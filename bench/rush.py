"""The Friday rush: guests arrive (Poisson), join from their phones, poll their entry, some leave; staff at
every restaurant press call-next, then seat the party or mark a no-show, and glance at their queue. Open
loop: arrivals and presses come at their own pace, whatever the server's latency.

Every attempt is recorded for the checker (``bench.checker.Op``). A phone whose join gets no answer, a
dropped connection or a 5xx retries with the SAME idempotency key, with backoff, through the load balancer
(the other instance first); staff do not blindly repeat a call-next (a second press calls the next party).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.checker import Kind, Op, Outcome
from bench.seed import restaurant_id, staff_token

RETRY_GIVE_UP_SECONDS = 30.0


@dataclass(frozen=True)
class RushConfig:
    seconds: float
    restaurants: int = 100
    joins_per_second: float = 40.0
    staff_per_restaurant: int = 2
    # Mean seconds between two presses of one member of staff.
    call_interval: float = 4.0
    poll_interval: float = 3.0
    dashboard_interval: float = 5.0
    leave_probability: float = 0.1
    no_show_probability: float = 0.15
    seat_delay: float = 1.0
    request_timeout: float = 15.0
    drain_seconds: float = 15.0
    seed: int = 5


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    body: dict[str, Any] | None
    # The HTTP status; None when no answer came at all.
    status: int | None


@dataclass
class FaultEvent:
    at: float
    label: str


@dataclass
class RushResult:
    ops: list[Op]
    started: float
    seconds: float
    faults: list[FaultEvent] = field(default_factory=list)


class Instances:
    """The app instances behind the load balancer (their ports stay the same across restarts)."""

    def __init__(self, base_urls: Sequence[str]) -> None:
        self.base_urls = list(base_urls)

    def pick(self, attempt: int, first: int) -> tuple[str, str]:
        index = (first + attempt) % len(self.base_urls)
        return f"i{index}", self.base_urls[index]


class Rush:
    def __init__(
        self, config: RushConfig, instances: Instances, *, run: int, tls: ssl.SSLContext | None = None
    ) -> None:
        self.config = config
        # Whom to trust for https:// instances (a test's own certificate); None: the system's authorities.
        self.tls = tls
        self.instances = instances
        self.run_number = run
        self.random = random.Random(config.seed + run)
        self.ops: list[Op] = []
        self.stopping = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.started = 0.0
        self.session: aiohttp.ClientSession | None = None

    def now(self) -> float:
        return time.monotonic() - self.started

    # --- one attempt --------------------------------------------------------------------------------------

    async def attempt(
        self,
        kind: Kind | str,
        method: str,
        path: str,
        *,
        instance: tuple[str, str],
        restaurant: str,
        process: str,
        key: str | None = None,
        json_body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        entry_id: str | None = None,
    ) -> Answer:
        assert self.session is not None
        name, base_url = instance
        invoked = self.now()
        outcome: Outcome = "unknown"
        status: int | None = None
        body: dict[str, Any] | None = None
        try:
            async with self.session.request(
                method, base_url + path, json=json_body, headers=headers
            ) as answer:
                status = answer.status
                if status < 300:
                    outcome = "ok"
                    body = await answer.json() if status != 204 else None
                elif status < 500:
                    outcome = "fail"
                await answer.read()
        except aiohttp.ClientConnectorError:
            outcome = "fail"  # never connected: the request was not sent
        except (aiohttp.ClientError, TimeoutError):
            outcome = "unknown"
        except asyncio.CancelledError:
            self._record(kind, "unknown", invoked, restaurant, key, entry_id, None, None, process, name)
            raise
        token = None
        if body is not None:
            entry_id = body.get("id", entry_id)
            token = body.get("tokenNumber")
        self._record(kind, outcome, invoked, restaurant, key, entry_id, token, status, process, name)
        return Answer(outcome, body, status)

    def _record(
        self,
        kind: Kind | str,
        outcome: Outcome,
        invoked: float,
        restaurant: str,
        key: str | None,
        entry_id: str | None,
        token: int | None,
        status: int | None,
        process: str,
        instance: str,
    ) -> None:
        self.ops.append(
            Op(
                kind=kind,  # type: ignore[arg-type]
                outcome=outcome,
                restaurant=restaurant,
                key=key,
                entry_id=entry_id,
                token=token,
                status=status,
                invoked=round(invoked, 6),
                completed=round(self.now(), 6),
                process=process,
                instance=instance,
            )
        )

    async def with_retries(self, first: int, send: Callable[[tuple[str, str]], Awaitable[Answer]]) -> Answer:
        """Like a phone: retry what got no answer, backing off, through the other instance first."""
        deadline = self.now() + RETRY_GIVE_UP_SECONDS
        delay = 0.25
        attempt = 0
        while True:
            answer = await send(self.instances.pick(attempt, first))
            refused = answer.outcome == "fail" and answer.status is not None
            if answer.outcome == "ok" or refused or self.now() > deadline:
                # Done, or refused with an answer (409, 422, 429...: retrying changes nothing), or given up.
                return answer
            attempt += 1
            await asyncio.sleep(delay * (0.5 + self.random.random()))
            delay = min(delay * 2, 2.0)

    # --- actors -------------------------------------------------------------------------------------------

    async def guest(self, number: int) -> None:
        config = self.config
        index = self.random.randint(1, config.restaurants)
        restaurant, slug = restaurant_id(index), f"r{index}"
        key = f"rush{self.run_number}-{number}"
        body = {
            "name": f"Guest {number}",
            "mobileNumber": f"+4473{self.run_number % 10}{number:07d}",
            "partySize": 1 + number % 6,
            "idempotencyKey": key,
        }
        process = f"guest-{number}"
        first = self.random.randrange(len(self.instances.base_urls))
        joined = await self.with_retries(
            first,
            lambda instance: self.attempt(
                "join",
                "POST",
                f"/api/public/{slug}/queue",
                instance=instance,
                restaurant=restaurant,
                process=process,
                key=key,
                json_body=body,
            ),
        )
        if joined.outcome != "ok" or joined.body is None:
            return
        entry_id = joined.body["id"]
        leaves = self.random.random() < config.leave_probability
        leave_at = self.now() + self.random.expovariate(1 / (config.poll_interval * 3)) if leaves else None
        path = f"/api/public/{slug}/queue/{entry_id}"
        while not self.stopping.is_set():
            await self._pause(config.poll_interval * (0.5 + self.random.random()))
            if self.stopping.is_set():
                return
            instance = self.instances.pick(0, self.random.randrange(len(self.instances.base_urls)))
            if leave_at is not None and self.now() >= leave_at:
                await self.with_retries(
                    first,
                    lambda instance: self.attempt(
                        "leave",
                        "DELETE",
                        path,
                        instance=instance,
                        restaurant=restaurant,
                        process=process,
                        entry_id=entry_id,
                    ),
                )
                return
            seen = await self.attempt(
                "poll",
                "GET",
                path,
                instance=instance,
                restaurant=restaurant,
                process=process,
                entry_id=entry_id,
            )
            if seen.outcome == "ok" and seen.body is not None and seen.body.get("status") != "waiting":
                return

    async def staff(self, index: int, member: int) -> None:
        config = self.config
        restaurant = restaurant_id(index)
        headers = {"Authorization": f"Bearer {staff_token(index)}"}
        process = f"staff-{index}-{member}"
        admin = f"/api/admin/{restaurant}/queue"
        next_glance = self.now() + self.random.uniform(0, config.dashboard_interval)
        while not self.stopping.is_set():
            await self._pause(self.random.expovariate(1 / config.call_interval))
            if self.stopping.is_set():
                return
            instance = self.instances.pick(0, self.random.randrange(len(self.instances.base_urls)))
            if member == 0 and self.now() >= next_glance:
                next_glance = self.now() + config.dashboard_interval
                await self.attempt(
                    "dashboard",
                    "GET",
                    f"{admin}?status=active&limit=50",
                    instance=instance,
                    restaurant=restaurant,
                    process=process,
                    headers=headers,
                )
            called = await self.attempt(
                "call_next",
                "POST",
                f"{admin}/call-next",
                instance=instance,
                restaurant=restaurant,
                process=process,
                headers=headers,
            )
            if called.outcome == "ok" and called.body is not None:
                self.spawn(self.finish(restaurant, admin, headers, process, called.body["id"]))

    async def finish(
        self, restaurant: str, admin: str, headers: dict[str, str], process: str, entry_id: str
    ) -> None:
        """The party walks up (seated) or does not (no-show)."""
        await asyncio.sleep(self.config.seat_delay * (0.5 + self.random.random()))
        no_show = self.random.random() < self.config.no_show_probability
        kind: Kind = "no_show" if no_show else "seat"
        action = "no-show" if no_show else "seat"
        await self.with_retries(
            self.random.randrange(len(self.instances.base_urls)),
            lambda instance: self.attempt(
                kind,
                "POST",
                f"{admin}/{entry_id}/{action}",
                instance=instance,
                restaurant=restaurant,
                process=process,
                headers=headers,
                entry_id=entry_id,
            ),
        )

    async def arrivals(self) -> None:
        number = 0
        while not self.stopping.is_set():
            await self._pause(self.random.expovariate(self.config.joins_per_second))
            if self.stopping.is_set():
                return
            number += 1
            self.spawn(self.guest(number))

    # --- running ------------------------------------------------------------------------------------------

    def spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when the run is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    async def run(self, faults: Callable[[Rush], Awaitable[list[FaultEvent]]] | None = None) -> RushResult:
        config = self.config
        timeout = aiohttp.ClientTimeout(total=config.request_timeout)
        connector = aiohttp.TCPConnector(
            limit=0, limit_per_host=0, force_close=False, ssl=self.tls if self.tls is not None else True
        )
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            self.session = session
            self.started = time.monotonic()
            self.spawn(self.arrivals())
            for index in range(1, config.restaurants + 1):
                for member in range(config.staff_per_restaurant):
                    self.spawn(self.staff(index, member))
            fault_task = asyncio.ensure_future(faults(self)) if faults else None
            await asyncio.sleep(config.seconds)
            self.stopping.set()
            events = await fault_task if fault_task else []
            deadline = time.monotonic() + config.drain_seconds
            while self.tasks and time.monotonic() < deadline:
                await asyncio.wait(set(self.tasks), timeout=max(deadline - time.monotonic(), 0.01))
            for task in list(self.tasks):
                task.cancel()
            if self.tasks:
                await asyncio.wait(set(self.tasks), timeout=5)
        return RushResult(ops=self.ops, started=self.started, seconds=config.seconds, faults=events)
