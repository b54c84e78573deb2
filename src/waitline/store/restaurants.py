"""Restaurants and their counter rows: every statement about them, by name."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain import QueueSummary, Restaurant, RestaurantNotFound
from waitline.store.constraints import domain_error
from waitline.store.statement import Statement

RESTAURANT_COLUMNS = (
    "id, slug, name, queue_open, default_region, created_at, organisation_id, time_zone, default_language"
)

_INSERT_RESTAURANT = Statement(
    f"""
    INSERT INTO restaurant (id, slug, name, default_region, organisation_id)
    VALUES (:id, :slug, :name, :default_region, :organisation_id)
    RETURNING {RESTAURANT_COLUMNS}
    """
)
# Created with its restaurant, in the same transaction: a restaurant without a counter cannot exist. The
# counter row hands out tokens and event seqs, and its lock orders every change of the restaurant.
_INSERT_COUNTER = Statement("INSERT INTO token_sequence (restaurant_id) VALUES (:restaurant_id)")
_RESTAURANT_BY_SLUG = Statement(f"SELECT {RESTAURANT_COLUMNS} FROM restaurant WHERE slug = :slug")
_RESTAURANT_BY_ID = Statement(f"SELECT {RESTAURANT_COLUMNS} FROM restaurant WHERE id = :id")
# Only when it changes: pausing a paused queue is no change, and records no event.
_SET_QUEUE_OPEN = Statement(
    f"""
    UPDATE restaurant SET queue_open = :queue_open
    WHERE id = :id AND queue_open <> :queue_open
    RETURNING {RESTAURANT_COLUMNS}
    """
)
_SUMMARY = Statement(
    """
    SELECT
        (SELECT count(*) FROM queue_entry w
         WHERE w.restaurant_id = :restaurant_id AND w.status = 'waiting') AS waiting_count,
        (SELECT c.token_number FROM queue_entry c
         WHERE c.restaurant_id = :restaurant_id AND c.called_at IS NOT NULL
         ORDER BY c.called_at DESC, c.token_number DESC LIMIT 1) AS now_serving
    """
)


async def create_restaurant(
    *,
    connection: AsyncConnection,
    slug: str,
    name: str,
    default_region: str | None,
    organisation_id: uuid.UUID,
) -> Restaurant:
    params = {
        "id": str(uuid.uuid4()),
        "slug": slug,
        "name": name,
        "default_region": default_region,
        "organisation_id": str(organisation_id),
    }
    try:
        row = (await connection.execute(_INSERT_RESTAURANT.on(connection), params)).mappings().one()
    except IntegrityError as error:
        raise domain_error(error) from None
    await connection.execute(_INSERT_COUNTER.on(connection), {"restaurant_id": params["id"]})
    return Restaurant.from_row(row)


async def get_restaurant_by_slug(*, connection: AsyncConnection, slug: str) -> Restaurant:
    row = (await connection.execute(_RESTAURANT_BY_SLUG.on(connection), {"slug": slug})).mappings().first()
    if row is None:
        raise RestaurantNotFound()
    return Restaurant.from_row(row)


async def get_restaurant(*, connection: AsyncConnection, restaurant_id: uuid.UUID) -> Restaurant:
    params = {"id": str(restaurant_id)}
    row = (await connection.execute(_RESTAURANT_BY_ID.on(connection), params)).mappings().first()
    if row is None:
        raise RestaurantNotFound()
    return Restaurant.from_row(row)


async def set_queue_open(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, queue_open: bool
) -> Restaurant | None:
    """The restaurant after the change; None when the queue already was so (nothing changed)."""
    params = {"id": str(restaurant_id), "queue_open": queue_open}
    row = (await connection.execute(_SET_QUEUE_OPEN.on(connection), params)).mappings().first()
    return None if row is None else Restaurant.from_row(row)


async def queue_summary(*, connection: AsyncConnection, restaurant: Restaurant) -> QueueSummary:
    params = {"restaurant_id": str(restaurant.id)}
    row = (await connection.execute(_SUMMARY.on(connection), params)).mappings().one()
    return QueueSummary(
        restaurant=restaurant,
        waiting_count=int(row["waiting_count"]),
        now_serving=None if row["now_serving"] is None else int(row["now_serving"]),
    )
