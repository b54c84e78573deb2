"""The staff API: call the next party, move entries on, list and pause the queue. One bearer token each."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response, status

from waitline import services
from waitline.domain import ACTIVE_STATUSES, Status, Transition
from waitline.web.dependencies import DatabaseDep, StaffRestaurant
from waitline.web.problems import documented
from waitline.web.schemas import CallNextBody, RestaurantOut, StaffEntryList, StaffEntryOut, StatusFilter

router = APIRouter(prefix="/api/admin/{restaurantId}", tags=["staff"])

_STATUS_FILTERS: dict[str, frozenset[Status]] = {
    "waiting": frozenset({Status.WAITING}),
    "called": frozenset({Status.CALLED}),
    "active": ACTIVE_STATUSES,
    "all": frozenset(Status),
}


@router.post(
    "/queue/call-next",
    response_model=StaffEntryOut,
    responses=documented(400, 401, 403, 404, _204={"description": "Nobody (that fits) is waiting"}),
)
async def call_next(
    restaurant_id: StaffRestaurant,
    database: DatabaseDep,
    body: Annotated[CallNextBody | None, Body()] = None,
) -> StaffEntryOut | Response:
    entry = await services.call_next(
        database=database, restaurant_id=restaurant_id, max_party_size=body.max_party_size if body else None
    )
    if entry is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return StaffEntryOut.of(entry)


@router.get("/queue", responses=documented(401, 403, 404))
async def list_queue(
    restaurant_id: StaffRestaurant,
    database: DatabaseDep,
    status_filter: Annotated[StatusFilter, Query(alias="status")] = "waiting",
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> StaffEntryList:
    entries = await services.list_entries(
        database=database, restaurant_id=restaurant_id, statuses=_STATUS_FILTERS[status_filter], limit=limit
    )
    return StaffEntryList(entries=[StaffEntryOut.of(entry) for entry in entries])


async def _transition(
    database: DatabaseDep, restaurant_id: uuid.UUID, entry_id: uuid.UUID, transition: Transition
) -> StaffEntryOut:
    entry = await services.transition(
        database=database, restaurant_id=restaurant_id, entry_id=entry_id, transition=transition
    )
    return StaffEntryOut.of(entry)


@router.post("/queue/{entry_id}/seat", responses=documented(401, 403, 404, 409))
async def seat(restaurant_id: StaffRestaurant, entry_id: uuid.UUID, database: DatabaseDep) -> StaffEntryOut:
    return await _transition(database, restaurant_id, entry_id, Transition.SEAT)


@router.post("/queue/{entry_id}/no-show", responses=documented(401, 403, 404, 409))
async def no_show(
    restaurant_id: StaffRestaurant, entry_id: uuid.UUID, database: DatabaseDep
) -> StaffEntryOut:
    return await _transition(database, restaurant_id, entry_id, Transition.NO_SHOW)


@router.post("/queue/{entry_id}/cancel", responses=documented(401, 403, 404, 409))
async def cancel(restaurant_id: StaffRestaurant, entry_id: uuid.UUID, database: DatabaseDep) -> StaffEntryOut:
    return await _transition(database, restaurant_id, entry_id, Transition.CANCEL)


async def _set_open(database: DatabaseDep, restaurant_id: uuid.UUID, queue_open: bool) -> RestaurantOut:
    restaurant = await services.set_queue_open(
        database=database, restaurant_id=restaurant_id, queue_open=queue_open
    )
    return RestaurantOut(
        id=restaurant.id, slug=restaurant.slug, name=restaurant.name, open=restaurant.queue_open
    )


@router.post("/queue/pause", responses=documented(401, 403, 404))
async def pause(restaurant_id: StaffRestaurant, database: DatabaseDep) -> RestaurantOut:
    """Stop taking new guests; the waiting ones stay in the queue."""
    return await _set_open(database, restaurant_id, False)


@router.post("/queue/resume", responses=documented(401, 403, 404))
async def resume(restaurant_id: StaffRestaurant, database: DatabaseDep) -> RestaurantOut:
    return await _set_open(database, restaurant_id, True)
