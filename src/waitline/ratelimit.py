"""Rate limits: policies, the GCRA arithmetic every backend shares, and the in-process limiter.

GCRA (the generic cell rate algorithm) rather than a fixed window: a policy "N/period" lets a burst of up
to N through at once and then refills at N per period, evenly. A fixed window lets N through at the end of
one window and N more at the start of the next, 2N in a moment; GCRA at that edge lets through only what
has refilled since (N·elapsed/period). It also needs one number per key (the "theoretical arrival time",
TAT) and one atomic read-modify-write per check, which the database does as one upsert and Redis as one
script, and it gives an exact Retry-After.

For a key with TAT ``tat``, emission interval ``T = period / N`` and tolerance ``tau = period - T`` (room
for N - 1 more at once), a request at ``now`` is allowed when ``max(tat, now) - tau <= now``; then
``tat := max(tat, now) + T``. A refused request changes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from waitline.domain import WaitlineError

_PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_POLICY = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")


@dataclass(frozen=True)
class RatePolicy:
    """At most ``limit`` at once, refilling at ``limit`` per ``period_seconds``."""

    limit: int
    period_seconds: float
    name: str

    @property
    def interval(self) -> float:
        return self.period_seconds / self.limit

    @property
    def tolerance(self) -> float:
        return self.period_seconds - self.interval

    @classmethod
    def parse(cls, text: str, *, name: str) -> RatePolicy | None:
        """``"20/minute"`` -> a policy; ``"off"`` -> None."""
        if text.strip().lower() == "off":
            return None
        match = _POLICY.match(text.lower())
        if not match or int(match.group(1)) < 1:
            raise ValueError(f"rate limit {text!r}: use N/second, N/minute, N/hour, N/day or off")
        return cls(limit=int(match.group(1)), period_seconds=_PERIODS[match.group(2)], name=name)


@dataclass(frozen=True)
class LimitCheck:
    """One key to check against one policy (e.g. this client IP against the per-IP policy)."""

    key: str
    policy: RatePolicy


@dataclass(frozen=True)
class Decision:
    allowed: bool
    policy: RatePolicy
    remaining: int
    # Seconds until one more request would be allowed (0 when allowed).
    retry_after: float
    # Seconds until the full burst is available again.
    reset_after: float

    @classmethod
    def from_tat(cls, *, policy: RatePolicy, allowed: bool, tat: float, now: float) -> Decision:
        """The decision as seen from ``tat``: the key's TAT after this request (unchanged if refused)."""
        backlog = max(tat - now, 0.0)
        headroom = policy.tolerance - backlog
        remaining = math.floor(headroom / policy.interval + 1e-9) + 1 if headroom > -1e-9 else 0
        retry_after = 0.0 if allowed else max(-headroom, 0.0)
        return cls(
            allowed=allowed, policy=policy, remaining=remaining, retry_after=retry_after, reset_after=backlog
        )


def most_restrictive(decisions: Sequence[Decision]) -> Decision | None:
    """The decision to report: a refusal if any (the longest wait), else the one with least left."""
    if not decisions:
        return None
    refused = [decision for decision in decisions if not decision.allowed]
    if refused:
        return max(refused, key=lambda decision: decision.retry_after)
    return min(decisions, key=lambda decision: decision.remaining)


def gcra(*, tat: float | None, now: float, policy: RatePolicy) -> tuple[bool, float]:
    """(allowed, the key's TAT afterwards) for one request at ``now``."""
    base = now if tat is None else max(tat, now)
    if base - policy.tolerance <= now:
        return True, base + policy.interval
    return False, base if tat is not None else now


class InProcessLimiter:
    """GCRA in this process's memory: exact here, blind to other instances. The fallback when the shared
    store fails, and the backend when none is configured for a single process."""

    def __init__(self, *, clock: Callable[[], float] = time.time, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._tats: dict[str, float] = {}
        self._max_keys = max_keys

    def check(self, checks: Sequence[LimitCheck]) -> list[Decision]:
        """All-or-nothing: a request refused by one policy is counted by none."""
        now = self._clock()
        outcomes = [
            (check, *gcra(tat=self._tats.get(check.key), now=now, policy=check.policy)) for check in checks
        ]
        all_allowed = all(allowed for _, allowed, _ in outcomes)
        if all_allowed:
            if len(self._tats) + len(checks) > self._max_keys:
                self._forget_expired(now)
            for check, _, tat in outcomes:
                self._tats[check.key] = tat
        return [
            Decision.from_tat(
                policy=check.policy,
                allowed=all_allowed,
                tat=tat if all_allowed else self._tats.get(check.key, now),
                now=now,
            )
            for check, _, tat in outcomes
        ]

    def _forget_expired(self, now: float) -> None:
        # A TAT in the past is the same as no TAT at all.
        for key in [key for key, tat in self._tats.items() if tat <= now]:
            del self._tats[key]
        while len(self._tats) >= self._max_keys:
            self._tats.pop(next(iter(self._tats)))


class RateLimited(WaitlineError):
    """Too many joins from this device or number; please wait a moment."""

    def __init__(self, decision: Decision) -> None:
        super().__init__()
        self.decision = decision


class LimiterUnavailable(Exception):
    """The shared rate-limit store did not answer."""


class SharedLimiter(Protocol):
    async def check(self, checks: Sequence[LimitCheck]) -> list[Decision]: ...

    async def refund(self, checks: Sequence[LimitCheck]) -> None: ...

    async def close(self) -> None: ...


class ResilientLimiter:
    """The shared store while it answers; this process's own limiter while it does not.

    While falling back, each instance limits on its own (N instances admit up to N times the policy). The
    shared store is tried again at most every ``retry_seconds``, and used as soon as it answers.
    """

    def __init__(
        self,
        shared: SharedLimiter,
        *,
        fallback: InProcessLimiter,
        on_fallback_change: Callable[[bool], None],
        clock: Callable[[], float] = time.monotonic,
        retry_seconds: float = 1.0,
    ) -> None:
        self._shared = shared
        self._fallback = fallback
        self._on_fallback_change = on_fallback_change
        self._clock = clock
        self._retry_seconds = retry_seconds
        self._falling_back = False
        self._next_try = 0.0

    @property
    def falling_back(self) -> bool:
        return self._falling_back

    async def check(self, checks: Sequence[LimitCheck]) -> list[Decision]:
        if self._falling_back and self._clock() < self._next_try:
            return self._fallback.check(checks)
        try:
            decisions = await self._shared.check(checks)
        except LimiterUnavailable:
            self._next_try = self._clock() + self._retry_seconds
            self._set_falling_back(True)
            return self._fallback.check(checks)
        self._set_falling_back(False)
        return decisions

    async def refund(self, checks: Sequence[LimitCheck]) -> None:
        if self._falling_back:
            return
        with contextlib.suppress(LimiterUnavailable):
            await self._shared.refund(checks)

    async def close(self) -> None:
        await self._shared.close()

    def _set_falling_back(self, falling_back: bool) -> None:
        if falling_back != self._falling_back:
            self._falling_back = falling_back
            self._on_fallback_change(falling_back)


@dataclass(frozen=True)
class JoinLimits:
    """The join policies, and where they are counted: in the database, inside the join's own statement
    (``shared is None``), or in a shared store such as Redis before the join."""

    per_ip: RatePolicy | None
    per_mobile: RatePolicy | None
    shared: ResilientLimiter | None
    clock: Callable[[], float] = time.time

    def checks(self, *, client_ip: str, slug: str, mobile: str) -> list[LimitCheck]:
        checks = []
        if self.per_ip is not None:
            checks.append(LimitCheck(f"ip:{client_ip}", self.per_ip))
        if self.per_mobile is not None:
            # Keys are hashed so that the limiter's store holds no phone numbers.
            digest = hashlib.sha256(mobile.encode()).hexdigest()[:32]
            checks.append(LimitCheck(f"mobile:{slug}:{digest}", self.per_mobile))
        return checks
