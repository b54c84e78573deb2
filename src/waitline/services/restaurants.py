"""Restaurants: creating one, finding one, and what anyone may see of its queue."""

from __future__ import annotations

import uuid

from waitline.domain import QueueSummary, Restaurant
from waitline.store import owners, restaurants
from waitline.store.engine import Database


class Restaurants:
    def __init__(self, *, database: Database) -> None:
        self._database = database

    async def create(
        self,
        *,
        slug: str,
        name: str,
        default_region: str | None = None,
        organisation_id: uuid.UUID | None = None,
    ) -> Restaurant:
        """A new location of ``organisation_id``; without one, of a new organisation named after it."""
        async with self._database.transaction() as connection:
            if organisation_id is None:
                organisation_id = await owners.create_organisation(connection=connection, name=name)
            return await restaurants.create_restaurant(
                connection=connection,
                slug=slug,
                name=name,
                default_region=default_region,
                organisation_id=organisation_id,
            )

    async def get(self, *, slug: str) -> Restaurant:
        async with self._database.snapshot() as connection:
            return await restaurants.get_restaurant_by_slug(connection=connection, slug=slug)

    async def by_id(self, *, restaurant_id: uuid.UUID) -> Restaurant:
        async with self._database.snapshot() as connection:
            return await restaurants.get_restaurant(connection=connection, restaurant_id=restaurant_id)

    async def summary(self, *, slug: str) -> QueueSummary:
        async with self._database.snapshot() as connection:
            restaurant = await restaurants.get_restaurant_by_slug(connection=connection, slug=slug)
            return await restaurants.queue_summary(connection=connection, restaurant=restaurant)
