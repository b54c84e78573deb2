"""What handlers are given: the services, the client's address, a staff caller checked against the path."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request

from waitline.config import Settings
from waitline.domain import SLUG_PATTERN, Actor
from waitline.services import Services
from waitline.web.client_ip import limited_client
from waitline.web.policy import Authorised, credentials_of

# The dependencies below only read the request, yet are coroutines: FastAPI runs a plain ``def`` dependency in
# a worker thread, a hand-off to and from the thread pool on every request for nothing.


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

# A restaurant's address in a path: anything else is refused before it reaches the database.
Slug = Annotated[str, Path(pattern=SLUG_PATTERN, max_length=63)]


def counted_client(request: Request) -> str:
    """The client as the per-address limits (joins, sign-in attempts, live streams) count it: the address the
    telemetry middleware worked out (socket peer, or trusted proxies' X-Forwarded-For), an IPv6 one by its
    network."""
    address: str = request.scope["waitline.client_ip"]
    settings: Settings = request.app.state.settings
    return limited_client(address, ipv6_prefix=settings.rate_limit_ipv6_prefix)


async def get_client_ip(request: Request) -> str:
    return counted_client(request)


ClientIP = Annotated[str, Depends(get_client_ip)]
RestaurantId = Annotated[uuid.UUID, Path(alias="restaurantId")]


@dataclass(frozen=True)
class Caller:
    """A staff API caller: the restaurant in the path, which its bearer token was shown to belong to."""

    restaurant_id: uuid.UUID
    actor: Actor


async def staff_caller(grant: Authorised, restaurant_id: RestaurantId) -> Caller:
    """The bearer token's grant at the restaurant in the path, as web/policy.py decided it."""
    return Caller(restaurant_id=restaurant_id, actor=grant.actor)


StaffCaller = Annotated[Caller, Depends(staff_caller)]


@dataclass(frozen=True)
class TokenCaller:
    """A staff API caller whose bearer token the use case checks in its own statement (web/policy.py
    CHECKED_IN_STATEMENT): the restaurant in the path and the token, not yet shown to belong to it."""

    restaurant_id: uuid.UUID
    bearer: str


async def token_caller(request: Request, restaurant_id: RestaurantId) -> TokenCaller:
    # The policy refused a request without one (401) before this runs.
    return TokenCaller(restaurant_id=restaurant_id, bearer=credentials_of(request, "/api/").bearer or "")


BearerCaller = Annotated[TokenCaller, Depends(token_caller)]
