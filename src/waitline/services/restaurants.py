"""Restaurants: creating one, finding one, and what anyone may see of its queue."""

from __future__ import annotations

from waitline.domain import QueueSummary, Restaurant
from waitline.store import restaurants
from waitline.store.engine import Database


class Restaurants:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    async def create(self, *, slug: str, name: str, default_region: str | None = None) -> Restaurant:
        async with self._database.transaction() as connection:
            return await restaurants.create_restaurant(
                connection=connection, slug=slug, name=name, default_region=default_region
            )

    async def get(self, *, slug: str) -> Restaurant:
        async with self._database.snapshot() as connection:
            return await restaurants.get_restaurant_by_slug(connection=connection, slug=slug)

    async def summary(self, *, slug: str) -> QueueSummary:
        async with self._database.snapshot() as connection:
            restaurant = await restaurants.get_restaurant_by_slug(connection=connection, slug=slug)
            return await restaurants.queue_summary(connection=connection, restaurant=restaurant)
