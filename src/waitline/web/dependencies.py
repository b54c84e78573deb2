"""What handlers are given: the database, and a staff caller checked against the restaurant in the path."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path, Request

from waitline import services
from waitline.store.engine import Database


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]
RestaurantId = Annotated[uuid.UUID, Path(alias="restaurantId")]


async def staff_restaurant(request: Request, database: DatabaseDep, restaurant_id: RestaurantId) -> uuid.UUID:
    """The restaurant id from the path, once the bearer token is shown to belong to it."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    await services.authorise_staff(
        database=database,
        token=token.strip() if scheme.lower() == "bearer" else None,
        restaurant_id=restaurant_id,
    )
    return restaurant_id


StaffRestaurant = Annotated[uuid.UUID, Depends(staff_restaurant)]
