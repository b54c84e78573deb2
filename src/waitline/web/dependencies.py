"""What handlers are given: the database, and a staff caller checked against the restaurant in the path."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path, Request

from waitline import services
from waitline.config import Settings
from waitline.domain import SLUG_PATTERN
from waitline.ratelimit import JoinLimits
from waitline.store.engine import Database
from waitline.web.client_ip import limited_client

# The dependencies below only read the request, yet are coroutines: FastAPI runs a plain ``def`` dependency in
# a worker thread, a hand-off to and from the thread pool on every request for nothing.


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]

# A restaurant's address in a path: anything else is refused before it reaches the database.
Slug = Annotated[str, Path(pattern=SLUG_PATTERN, max_length=63)]


async def get_join_limits(request: Request) -> JoinLimits:
    limits: JoinLimits = request.app.state.join_limits
    return limits


JoinLimitsDep = Annotated[JoinLimits, Depends(get_join_limits)]


async def get_client_ip(request: Request) -> str:
    """The client as the per-address limits (joins, sign-in attempts) count it: the address the telemetry
    middleware worked out (socket peer, or trusted proxies' X-Forwarded-For), an IPv6 one by its network."""
    address: str = request.scope["waitline.client_ip"]
    settings: Settings = request.app.state.settings
    return limited_client(address, ipv6_prefix=settings.rate_limit_ipv6_prefix)


ClientIP = Annotated[str, Depends(get_client_ip)]
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
