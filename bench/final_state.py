"""The database at the end of a history, as the checker reads it: every entry, each restaurant's token
counter and, where the schema has the event log, the events since the history began together with what
waitline's own ``verify`` says of each chain they belong to."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import asyncpg

from bench.checker import FinalState, Row
from bench.eventcheck import LoggedEvent
from waitline.config import Settings
from waitline.services import Services
from waitline.store.engine import open_database

_ROWS = """
    SELECT restaurant_id::text AS restaurant, id::text AS entry_id, token_number AS token, status,
           idempotency_key AS key, called_at IS NOT NULL AS called
    FROM queue_entry
"""
_LAST_TOKENS = "SELECT restaurant_id::text AS restaurant, last_token FROM token_sequence"
_EVENTS = """
    SELECT restaurant_id::text AS restaurant, seq, type, entry_id::text AS entry_id, token_number AS token
    FROM queue_event
"""
_SLUGS = "SELECT id::text AS restaurant, slug FROM restaurant"


async def postgres_final_state(
    url: str, *, since: Mapping[str, int] | None = None, event_log: bool = True
) -> FinalState:
    """``since``: each restaurant's last seq before the history began (none: a fresh log).
    ``event_log=False``: a schema from before the log (nothing of it to read)."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(_ROWS)
        tokens = await connection.fetch(_LAST_TOKENS)
        events = await connection.fetch(_EVENTS) if event_log else None
        slugs = await connection.fetch(_SLUGS) if event_log else []
    finally:
        await connection.close()
    return await _final_state(url, rows, tokens, events, slugs, since or {})


async def sqlite_final_state(path: Path, *, since: Mapping[str, int] | None = None) -> FinalState:
    with sqlite3.connect(path) as connection:
        connection.row_factory = sqlite3.Row

        def fetch(query: str) -> list[dict[str, Any]]:
            return [dict(row) for row in connection.execute(query.replace("::text", "")).fetchall()]

        rows = [{**row, "called": bool(row["called"])} for row in fetch(_ROWS)]
        tokens, events, slugs = fetch(_LAST_TOKENS), fetch(_EVENTS), fetch(_SLUGS)
    connection.close()
    return await _final_state(f"sqlite:///{path}", rows, tokens, events, slugs, since or {})


async def _final_state(
    url: str,
    rows: Iterable[Mapping[str, Any]],
    tokens: Iterable[Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]] | None,
    slugs: Iterable[Mapping[str, Any]],
    since: Mapping[str, int],
) -> FinalState:
    logged = None
    broken: dict[str, str] = {}
    if events is not None:
        logged = [
            LoggedEvent(**dict(event)) for event in events if event["seq"] > since.get(event["restaurant"], 0)
        ]
        slug_of = {row["restaurant"]: row["slug"] for row in slugs}
        broken = await broken_chains(url, {slug_of[event.restaurant] for event in logged})
    return FinalState(
        rows=[Row(**dict(row)) for row in rows],
        last_tokens={row["restaurant"]: int(row["last_token"]) for row in tokens},
        events=logged,
        broken_chains=broken,
    )


async def broken_chains(url: str, slugs: Iterable[str]) -> dict[str, str]:
    """What ``waitline events verify --restaurant SLUG`` finds wrong, for each restaurant it finds wrong."""
    database = open_database(Settings(database_url=url))
    try:
        services = Services(database=database)
        broken = {}
        for slug in sorted(slugs):
            verdict = await services.events.verify(slug=slug)
            if verdict.broken is not None:
                broken[slug] = f"seq {verdict.broken.seq}: {verdict.broken.problem}"
        return broken
    finally:
        await database.dispose()
