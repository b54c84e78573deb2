"""The rate-limit check inside the join finds its rows by index, however many keys the table holds.

The table keeps a row per mobile number for up to an hour, so on a busy day it holds tens of thousands. A
plan that scans it on every join costs milliseconds each (the bench saw the join fall from thousands to
hundreds a second); ``auto_explain`` shows the plans of the statements inside the function.
"""

from __future__ import annotations

import asyncpg
import pytest

pytestmark = pytest.mark.anyio

KEYS = 50_000


async def test_the_limit_check_reads_its_rows_by_index_on_a_large_table(pg_database_url: str) -> None:
    connection = await asyncpg.connect(pg_database_url)
    plans: list[str] = []
    connection.add_log_listener(lambda _connection, message: plans.append(message.message))
    try:
        await connection.execute(
            "INSERT INTO rate_limit (key, tat) SELECT 'mobile:r:' || n, 0 FROM generate_series(1, $1::int) n",
            KEYS,
        )
        await connection.execute("ANALYZE rate_limit")
        for statement in (
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 0",
            "SET auto_explain.log_nested_statements = on",
            "SET auto_explain.log_level = notice",
            "SET client_min_messages = notice",
        ):
            await connection.execute(statement)

        allowed, tats = await connection.fetchrow(
            "SELECT allowed, tats FROM waitline_hit_limits($1, $2, $3, $4)",
            1000.0,
            ["ip:198.18.0.1", "mobile:r:77"],
            [0.5, 1200.0],
            [59.5, 2400.0],
        )
    finally:
        await connection.close()

    assert allowed is True and tats == [1000.5, 2200.0]
    # Migration 0004: one INSERT ... ON CONFLICT DO UPDATE creates and locks the rows (its arbiter is the
    # primary key), then one UPDATE writes the new times back through the same index.
    lookups = [plan for plan in plans if "INSERT INTO rate_limit" in plan or "UPDATE rate_limit r" in plan]
    assert len(lookups) == 2, plans
    for plan in lookups:
        assert "Seq Scan on rate_limit" not in plan, plan
        assert "rate_limit_pkey" in plan, plan
