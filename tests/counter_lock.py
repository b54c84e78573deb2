"""The restaurant's token counter row held by a test, so that joins wait behind it inside PostgreSQL, and a
watch on how many of the server's statements wait there (PostgreSQL only: SQLite has no row locks)."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg

WAIT_SECONDS = 10.0


class CounterLock:
    """The restaurant's token counter row, locked FOR UPDATE by the test: joins wait behind it."""

    def __init__(self, database_url: str, restaurant_id: uuid.UUID) -> None:
        self.database_url = database_url
        self.restaurant_id = restaurant_id
        self.released = False

    async def __aenter__(self) -> CounterLock:
        self.locker = await asyncpg.connect(
            self.database_url, server_settings={"application_name": "waitline-tests-locker"}
        )
        self.watcher = await asyncpg.connect(self.database_url)
        self.transaction = self.locker.transaction()
        await self.transaction.start()
        await self.locker.execute(
            "SELECT 1 FROM token_sequence WHERE restaurant_id = $1 FOR UPDATE", self.restaurant_id
        )
        return self

    async def waiting(self) -> int:
        """How many of the server's statements wait for a lock right now."""
        count: int = await self.watcher.fetchval(
            """
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'waitline'
              AND wait_event_type = 'Lock'
            """
        )
        return count

    async def until_waiting(self, count: int) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while await self.waiting() < count:
            assert time.monotonic() < deadline, f"{count} requests never got to wait for the lock"
            await asyncio.sleep(0.02)

    async def release(self) -> None:
        if not self.released:
            self.released = True
            await self.transaction.rollback()

    async def __aexit__(self, *_exc: object) -> None:
        try:
            await self.release()
        finally:
            await self.locker.close()
            await self.watcher.close()
