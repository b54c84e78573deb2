"""Queue entries: reading them, moving one on by id, and listing a restaurant's entries page by page."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain import Entry, EntryNotFound, EntryPage, Status, TransitionRule
from waitline.store.driver import fetch_row
from waitline.store.statement import Statement

ENTRY_COLUMNS = (
    "e.id, e.restaurant_id, e.token_number, e.name, e.mobile, e.party_size, e.status, "
    "e.created_at, e.called_at, e.finished_at"
)
# 1-based place among the waiting parties of the restaurant; the partial index answers it.
POSITION = """
    CASE WHEN e.status = 'waiting' THEN (
        SELECT count(*) FROM queue_entry w
        WHERE w.restaurant_id = e.restaurant_id AND w.status = 'waiting' AND w.token_number <= e.token_number
    ) END AS position
"""

ENTRY_BY_ID = Statement(
    f"""
    SELECT {ENTRY_COLUMNS}, {POSITION}
    FROM queue_entry e WHERE e.id = :entry_id AND e.restaurant_id = :restaurant_id
    """
)
_ENTRY_BY_SLUG = Statement(
    f"""
    SELECT {ENTRY_COLUMNS}, {POSITION}
    FROM queue_entry e JOIN restaurant r ON r.id = e.restaurant_id
    WHERE e.id = :entry_id AND r.slug = :slug
    """
)
# Source states sit in the WHERE clause: of two staff racing on one entry, one updates it, one sees no row.
_TRANSITION = Statement(
    """
    UPDATE queue_entry SET status = :target, finished_at = {now}
    WHERE id = :entry_id AND restaurant_id = :restaurant_id AND status IN :sources
    RETURNING id, restaurant_id, token_number, name, mobile, party_size, status,
              created_at, called_at, finished_at, NULL AS position
    """,
    "sources",
)
# A page in token order after the cursor :after. Positions are a running count of the waiting rows on the
# page, plus the waiting rows before it (the partial index counts those).
_PAGE = Statement(
    f"""
    SELECT {ENTRY_COLUMNS},
           CASE WHEN e.status = 'waiting' THEN
               (SELECT count(*) FROM queue_entry w
                WHERE w.restaurant_id = :restaurant_id AND w.status = 'waiting' AND w.token_number <= :after)
               + sum(CASE WHEN e.status = 'waiting' THEN 1 ELSE 0 END)
                     OVER (ORDER BY e.token_number ROWS UNBOUNDED PRECEDING)
           END AS position
    FROM queue_entry e
    WHERE e.restaurant_id = :restaurant_id AND e.status IN :statuses AND e.token_number > :after
    ORDER BY e.token_number
    LIMIT :limit
    """,
    "statuses",
)


async def get_entry(*, connection: AsyncConnection, restaurant_id: uuid.UUID, entry_id: uuid.UUID) -> Entry:
    params = {"restaurant_id": str(restaurant_id), "entry_id": str(entry_id)}
    row = (await connection.execute(ENTRY_BY_ID.on(connection), params)).mappings().first()
    if row is None:
        raise EntryNotFound()
    return Entry.from_row(row)


async def get_entry_by_slug(*, connection: AsyncConnection, slug: str, entry_id: uuid.UUID) -> Entry:
    params = {"slug": slug, "entry_id": str(entry_id)}
    row = await fetch_row(connection, _ENTRY_BY_SLUG, params)
    if row is None:
        raise EntryNotFound()
    return Entry.from_row(row)


async def apply_transition(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, entry_id: uuid.UUID, rule: TransitionRule
) -> Entry | None:
    """The entry after the change, or None when it does not exist here or its status does not allow it."""
    params = {
        "restaurant_id": str(restaurant_id),
        "entry_id": str(entry_id),
        "target": rule.target.value,
        "sources": sorted(status.value for status in rule.sources),
    }
    row = (await connection.execute(_TRANSITION.on(connection), params)).mappings().first()
    return Entry.from_row(row) if row is not None else None


async def page(
    *,
    connection: AsyncConnection,
    restaurant_id: uuid.UUID,
    statuses: Iterable[Status],
    after: int,
    limit: int,
) -> EntryPage:
    """Up to ``limit`` entries with these statuses and a token above ``after``, in token order."""
    params = {
        "restaurant_id": str(restaurant_id),
        "statuses": sorted(status.value for status in statuses),
        "after": after,
        "limit": limit + 1,  # one more tells whether there is a next page
    }
    rows = (await connection.execute(_PAGE.on(connection), params)).mappings().all()
    entries = tuple(Entry.from_row(row) for row in rows[:limit])
    return EntryPage(entries=entries, next_after=entries[-1].token_number if len(rows) > limit else None)
