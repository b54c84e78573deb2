"""The range of days an analytics page, API call or export covers, and for which location: ``from`` and
``to``, both included, as dates in the location's time zone. By default the last 28 days up to today; at
most 366 days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Annotated

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError

from waitline.domain import Restaurant
from waitline.web.dependencies import ServicesDep
from waitline.web.policy import Authorised

DEFAULT_DAYS = 28
MAX_DAYS = 366


@dataclass(frozen=True)
class DayRange:
    first: date
    last: date
    zone: tzinfo
    restaurant: Restaurant

    @property
    def query(self) -> str:
        return f"from={self.first.isoformat()}&to={self.last.isoformat()}"


async def day_range(
    grant: Authorised,
    services: ServicesDep,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
) -> DayRange:
    restaurant = grant.restaurant
    if restaurant is None:  # an API token: the policy checked it against the path's id, and read nothing
        assert grant.principal is not None and grant.principal.restaurant_id is not None
        restaurant = await services.restaurants.by_id(restaurant_id=grant.principal.restaurant_id)
    zone = restaurant.zone
    last = last or datetime.now(UTC).astimezone(zone).date()
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first or (last - first).days >= MAX_DAYS:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "to"),
                    "msg": f"'to' must be on or after 'from', at most {MAX_DAYS} days later",
                    "type": "value_error",
                }
            ]
        )
    return DayRange(first=first, last=last, zone=zone, restaurant=restaurant)


Days = Annotated[DayRange, Depends(day_range)]
