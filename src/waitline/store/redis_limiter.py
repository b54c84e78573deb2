"""The Redis rate-limit backend: the same GCRA, all keys of one request checked in one script call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from waitline.ratelimit import Decision, LimitCheck, LimiterUnavailable

# KEYS: the limit keys. ARGV: now, then interval and tolerance per key. All-or-nothing: a request refused
# by one policy is counted by none. Numbers travel as strings (Redis would truncate Lua numbers to integers).
_CHECK = """
local now = tonumber(ARGV[1])
local allowed = 1
local tats = {}
local news = {}
for i = 1, #KEYS do
    local interval = tonumber(ARGV[2 * i])
    local tolerance = tonumber(ARGV[2 * i + 1])
    local stored = redis.call('GET', KEYS[i])
    local tat = stored and tonumber(stored) or now
    local base = math.max(tat, now)
    if base - tolerance > now then allowed = 0 end
    tats[i] = tat
    news[i] = base + interval
end
local out = {allowed}
for i = 1, #KEYS do
    if allowed == 1 then
        local ttl = math.ceil((news[i] - now) * 1000) + 1000
        redis.call('SET', KEYS[i], string.format('%.6f', news[i]), 'PX', ttl)
        out[i + 1] = string.format('%.6f', news[i])
    else
        out[i + 1] = string.format('%.6f', tats[i])
    end
end
return out
"""

# Gives back one request per key (a join that turned out to be a replay of one already counted).
_REFUND = """
for i = 1, #KEYS do
    local stored = redis.call('GET', KEYS[i])
    if stored then
        local ttl = redis.call('PTTL', KEYS[i])
        local tat = tonumber(stored) - tonumber(ARGV[i])
        if ttl > 0 then
            redis.call('SET', KEYS[i], string.format('%.6f', tat), 'PX', ttl)
        end
    end
end
return 1
"""

KEY_PREFIX = "waitline:ratelimit:"


class RedisLimiter:
    def __init__(self, url: str, *, clock: Callable[[], float], timeout_seconds: float = 0.5) -> None:
        self._redis: Redis = Redis.from_url(
            url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
        )
        self._clock = clock
        self._check: Any = self._redis.register_script(_CHECK)
        self._refund: Any = self._redis.register_script(_REFUND)

    async def check(self, checks: Sequence[LimitCheck]) -> list[Decision]:
        now = self._clock()
        arguments: list[str] = [f"{now:.6f}"]
        for check in checks:
            arguments += [f"{check.policy.interval:.6f}", f"{check.policy.tolerance:.6f}"]
        try:
            reply = await self._check(keys=[KEY_PREFIX + check.key for check in checks], args=arguments)
        except (RedisError, OSError) as error:
            raise LimiterUnavailable(str(error)) from error
        allowed = int(reply[0]) == 1
        return [
            Decision.from_tat(policy=check.policy, allowed=allowed, tat=float(tat), now=now)
            for check, tat in zip(checks, reply[1:], strict=True)
        ]

    async def refund(self, checks: Sequence[LimitCheck]) -> None:
        try:
            await self._refund(
                keys=[KEY_PREFIX + check.key for check in checks],
                args=[f"{check.policy.interval:.6f}" for check in checks],
            )
        except (RedisError, OSError) as error:
            raise LimiterUnavailable(str(error)) from error

    async def close(self) -> None:
        await self._redis.aclose()
