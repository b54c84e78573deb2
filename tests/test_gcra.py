"""GCRA, the arithmetic every rate-limit backend shares: a burst of N, then N per period, evenly.

The same behaviours are checked on the in-process limiter and on the Redis script (a private Redis of the
session, keys unique to the test), both driven by a fake clock: no test here waits.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import pytest
from pydantic import ValidationError

from tests.clock import EPOCH, FakeClock, policy
from tests.redis_server import RedisServer
from waitline.config import Settings
from waitline.ratelimit import (
    Decision,
    InProcessLimiter,
    LimitCheck,
    RatePolicy,
    gcra,
    most_restrictive,
)
from waitline.store.redis_limiter import RedisLimiter

pytestmark = pytest.mark.anyio

# --- policies -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "period"),
    [
        ("20/minute", 20, 60.0),
        ("1/second", 1, 1.0),
        ("3/hour", 3, 3600.0),
        ("5/day", 5, 86400.0),
        (" 7 / Minute ", 7, 60.0),
    ],
)
def test_a_policy_reads_n_per_period(text: str, limit: int, period: float) -> None:
    parsed = policy(text, name="per-ip")

    assert (parsed.limit, parsed.period_seconds, parsed.name) == (limit, period, "per-ip")
    assert parsed.interval == pytest.approx(period / limit)
    assert parsed.tolerance == pytest.approx(period - period / limit)


@pytest.mark.parametrize("text", ["off", "OFF", " Off "])
def test_off_means_no_policy(text: str) -> None:
    assert RatePolicy.parse(text, name="per-ip") is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "20",
        "20/",
        "/minute",
        "20/min",
        "20/minutes",
        "0/minute",
        "-1/minute",
        "1.5/second",
        "twenty/minute",
        "20 per minute",
        "20/minute/2",
        "none",
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="N/second"):
        RatePolicy.parse(text, name="per-ip")
    with pytest.raises(ValidationError):
        Settings(rate_limit_per_ip=text)
    with pytest.raises(ValidationError):
        Settings(rate_limit_per_mobile=text)


# --- the pure function --------------------------------------------------------------------------------------


def test_gcra_a_refusal_leaves_the_tat_where_it_was() -> None:
    three = policy("3/minute")  # interval 20 s, tolerance 40 s
    tat: float | None = None
    for expected_tat in (EPOCH + 20, EPOCH + 40, EPOCH + 60):
        allowed, tat = gcra(tat=tat, now=EPOCH, policy=three)
        assert allowed
        assert tat == pytest.approx(expected_tat)

    allowed, after = gcra(tat=tat, now=EPOCH, policy=three)

    assert not allowed
    assert after == tat


def test_a_decision_reports_what_is_left_and_when() -> None:
    three = policy("3/minute")
    spent = Decision.from_tat(policy=three, allowed=True, tat=EPOCH + 60, now=EPOCH)
    refused = Decision.from_tat(policy=three, allowed=False, tat=EPOCH + 60, now=EPOCH)
    fresh = Decision.from_tat(policy=three, allowed=True, tat=EPOCH - 5, now=EPOCH)

    assert (spent.remaining, spent.retry_after) == (0, 0.0)
    assert spent.reset_after == pytest.approx(60)
    assert refused.remaining == 0
    assert refused.retry_after == pytest.approx(20)
    assert (fresh.remaining, fresh.reset_after) == (3, 0.0)


def test_the_decision_reported_is_the_refusal_with_the_longest_wait_else_the_least_left() -> None:
    a, b = policy("3/minute", "a"), policy("1/hour", "b")
    short = Decision(allowed=False, policy=a, remaining=0, retry_after=5, reset_after=5)
    long = Decision(allowed=False, policy=b, remaining=0, retry_after=50, reset_after=50)
    roomy = Decision(allowed=True, policy=a, remaining=2, retry_after=0, reset_after=1)
    tight = Decision(allowed=True, policy=b, remaining=1, retry_after=0, reset_after=1)

    assert most_restrictive([]) is None
    assert most_restrictive([roomy, short, long, tight]) is long
    assert most_restrictive([roomy, tight]) is tight


# --- limiters: in process and Redis, the same behaviours ----------------------------------------------------


@dataclass
class Limiter:
    """One limiter backend, driven by ``clock``; ``key`` makes a key private to this test."""

    check: Callable[[Sequence[LimitCheck]], Awaitable[list[Decision]]]
    clock: FakeClock
    prefix: str

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    async def once(self, key: str, limit: RatePolicy) -> Decision:
        [decision] = await self.check([LimitCheck(key, limit)])
        return decision

    async def admitted(self, key: str, limit: RatePolicy, attempts: int) -> int:
        """How many of ``attempts`` requests at this instant are allowed."""
        return sum([(await self.once(key, limit)).allowed for _ in range(attempts)])


@pytest.fixture(params=["in-process", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[Limiter]:
    clock = FakeClock()
    prefix = f"test-gcra-{uuid.uuid4().hex}:"
    if request.param == "in-process":
        in_process = InProcessLimiter(clock=clock)

        async def check_in_process(checks: Sequence[LimitCheck]) -> list[Decision]:
            return in_process.check(checks)

        yield Limiter(check_in_process, clock, prefix)
        return
    redis_server: RedisServer = request.getfixturevalue("session_redis")
    redis_limiter = RedisLimiter(redis_server.url, clock=clock)
    try:
        yield Limiter(redis_limiter.check, clock, prefix)
    finally:
        await redis_limiter.close()


async def test_a_burst_of_n_is_allowed_then_refused(limiter: Limiter) -> None:
    five = policy("5/minute")
    key = limiter.key("burst")

    decisions = [await limiter.once(key, five) for _ in range(7)]

    assert [decision.allowed for decision in decisions] == [True] * 5 + [False] * 2
    assert [decision.remaining for decision in decisions] == [4, 3, 2, 1, 0, 0, 0]


async def test_retry_after_is_exactly_when_the_next_request_is_allowed(limiter: Limiter) -> None:
    five = policy("5/minute")  # one request back every 12 s
    key = limiter.key("retry")
    assert await limiter.admitted(key, five, 5) == 5

    refused = await limiter.once(key, five)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(12.0, abs=1e-3)

    limiter.clock.advance(refused.retry_after - 0.01)
    too_soon = await limiter.once(key, five)
    assert not too_soon.allowed
    assert too_soon.retry_after == pytest.approx(0.01, abs=1e-3)

    limiter.clock.advance(0.01)
    assert (await limiter.once(key, five)).allowed
    assert not (await limiter.once(key, five)).allowed


async def test_the_allowance_refills_at_n_per_period(limiter: Limiter) -> None:
    six = policy("6/minute")  # one request back every 10 s
    key = limiter.key("refill")
    assert await limiter.admitted(key, six, 10) == 6

    for seconds, refilled in ((10, 1), (25, 2), (60, 6), (3600, 6)):
        limiter.clock.advance(seconds)
        assert await limiter.admitted(key, six, 10) == refilled, seconds


async def test_remaining_counts_back_up_as_the_allowance_refills(limiter: Limiter) -> None:
    four = policy("4/minute")  # 15 s each
    key = limiter.key("remaining")
    assert await limiter.admitted(key, four, 4) == 4

    limiter.clock.advance(45)
    decision = await limiter.once(key, four)

    # 3 had refilled and this request took one of them; the other 2 are back 15 s apart.
    assert (decision.allowed, decision.remaining) == (True, 2)
    assert decision.reset_after == pytest.approx(30)


async def test_a_request_refused_by_one_policy_is_counted_by_none(limiter: Limiter) -> None:
    per_ip, per_mobile = policy("3/minute", "per-ip"), policy("1/hour", "per-mobile")
    ip, mobile = limiter.key("ip"), limiter.key("mobile")
    both = [LimitCheck(ip, per_ip), LimitCheck(mobile, per_mobile)]

    first = await limiter.check(both)
    assert [decision.allowed for decision in first] == [True, True]
    for _ in range(3):
        refused = await limiter.check(both)
        assert [decision.allowed for decision in refused] == [False, False]
        assert most_restrictive(refused) == refused[1]
        assert refused[1].retry_after == pytest.approx(3600, abs=1e-3)
        assert refused[0].remaining == 2

    # The three refusals took nothing from the per-IP allowance: 2 of its 3 are left.
    assert await limiter.admitted(ip, per_ip, 5) == 2


async def test_keys_are_independent(limiter: Limiter) -> None:
    two = policy("2/hour")
    assert await limiter.admitted(limiter.key("a"), two, 3) == 2
    assert await limiter.admitted(limiter.key("b"), two, 3) == 2


async def test_at_the_window_edge_only_what_refilled_gets_through(limiter: Limiter) -> None:
    """A fixed one-minute window would admit 2N around a minute boundary; GCRA admits N plus the refill."""
    n = 20
    twenty = policy(f"{n}/minute")  # one back every 3 s
    key = limiter.key("edge")
    limiter.clock.set(EPOCH + 58)  # two seconds before a minute boundary

    before = await limiter.admitted(key, twenty, n)
    limiter.clock.set(EPOCH + 60 + 4.5)  # 6.5 s later, in the next minute
    after = await limiter.admitted(key, twenty, n)

    refilled = math.floor(6.5 / twenty.interval)
    assert refilled == 2
    assert (before, after) == (n, refilled)


def test_the_in_process_limiter_forgets_only_spent_out_keys_when_full() -> None:
    clock = FakeClock()
    one = policy("1/minute")
    limiter = InProcessLimiter(clock=clock, max_keys=2)

    assert limiter.check([LimitCheck("old", one)])[0].allowed
    clock.advance(120)  # "old" has its allowance back: forgetting it changes nothing
    assert limiter.check([LimitCheck("live", one)])[0].allowed
    assert limiter.check([LimitCheck("new", one)])[0].allowed

    assert not limiter.check([LimitCheck("live", one)])[0].allowed
    assert not limiter.check([LimitCheck("new", one)])[0].allowed
