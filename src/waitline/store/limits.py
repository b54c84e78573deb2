"""Rate-limit state in the database: GCRA checks of several keys at once, and the sweep of spent rows.

On PostgreSQL a check is the function ``waitline_hit_limits`` (store/sql/), which the join also calls inside
its own statement; on SQLite its Python twin ``hit_limits_sqlite``, under the write lock.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.ratelimit import Decision, LimitCheck, RateLimited, gcra, most_restrictive
from waitline.store.statement import Statement, is_postgresql

_HIT_LIMITS_POSTGRESQL = Statement(
    "SELECT allowed, tats FROM waitline_hit_limits(:now, :keys, :intervals, :tolerances)"
)
_SQLITE_TATS = Statement("SELECT key, tat FROM rate_limit WHERE key IN :keys", "keys")
_SQLITE_SET_TAT = Statement(
    "INSERT INTO rate_limit (key, tat) VALUES (:key, :tat) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat"
)
# Rows a join holds right now are left for the next sweep (and deleted in key order, as joins lock them).
_SWEEP = Statement(
    """
    DELETE FROM rate_limit WHERE key IN (
        SELECT key FROM rate_limit WHERE tat < :now ORDER BY key {skip_locked}
    )
    """
)


def decisions(
    checks: Sequence[LimitCheck], *, allowed: bool, tats: Sequence[float], now: float
) -> list[Decision]:
    return [
        Decision.from_tat(policy=check.policy, allowed=allowed, tat=tat, now=now)
        for check, tat in zip(checks, tats, strict=True)
    ]


def rate_limited(refusals: list[Decision]) -> RateLimited:
    decision = most_restrictive(refusals)
    assert decision is not None
    return RateLimited(decision)


def policy_arrays(checks: Sequence[LimitCheck]) -> dict[str, list[str] | list[float]]:
    """The checks as the parallel arrays the PostgreSQL functions take."""
    return {
        "keys": [check.key for check in checks],
        "intervals": [check.policy.interval for check in checks],
        "tolerances": [check.policy.tolerance for check in checks],
    }


async def hit_limits(
    *, connection: AsyncConnection, checks: Sequence[LimitCheck], now: float
) -> list[Decision]:
    """Count one request against ``checks``, all or none; raises RateLimited when any refuses."""
    if not is_postgresql(connection):
        return await hit_limits_sqlite(connection, checks, now=now)
    row = (
        await connection.execute(_HIT_LIMITS_POSTGRESQL.on(connection), {"now": now, **policy_arrays(checks)})
    ).one()
    counted = decisions(checks, allowed=row.allowed, tats=row.tats, now=now)
    if not row.allowed:
        raise rate_limited(counted)
    return counted


async def hit_limits_sqlite(
    connection: AsyncConnection, checks: Sequence[LimitCheck], *, now: float
) -> list[Decision]:
    """GCRA as in ``waitline_hit_limits``; the write lock makes the read-then-write atomic."""
    if not checks:
        return []
    keys = [check.key for check in checks]
    rows = (await connection.execute(_SQLITE_TATS.on(connection), {"keys": keys})).all()
    stored: dict[str, float] = {row.key: row.tat for row in rows}
    outcomes = [gcra(tat=stored.get(check.key), now=now, policy=check.policy) for check in checks]
    if not all(ok for ok, _ in outcomes):
        tats = [stored.get(check.key, now) for check in checks]
        raise rate_limited(decisions(checks, allowed=False, tats=tats, now=now))
    for check, (_, tat) in zip(checks, outcomes, strict=True):
        await connection.execute(_SQLITE_SET_TAT.on(connection), {"key": check.key, "tat": tat})
    return decisions(checks, allowed=True, tats=[tat for _, tat in outcomes], now=now)


async def sweep(*, connection: AsyncConnection, now: float) -> int:
    """Delete the rate-limit rows whose allowance is whole again (they mean the same as no row)."""
    result = await connection.execute(_SWEEP.on(connection), {"now": now})
    return int(getattr(result, "rowcount", 0) or 0)
