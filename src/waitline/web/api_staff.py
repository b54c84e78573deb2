"""The staff API: call the next party, move entries on, list and pause the queue. One bearer token each."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response, status

from waitline.domain import ACTIVE_STATUSES, Status, Transition
from waitline.web.dependencies import BearerCaller, Caller, ServicesDep, StaffCaller
from waitline.web.model_response import ModelResponse
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
    caller: BearerCaller,
    services: ServicesDep,
    body: Annotated[CallNextBody | None, Body()] = None,
) -> Response:
    # The token is checked in the claim's own statement: one round trip (web/policy.py CHECKED_IN_STATEMENT).
    entry = await services.queue.call_next_by_token(
        restaurant_id=caller.restaurant_id,
        bearer=caller.bearer,
        max_party_size=body.max_party_size if body else None,
    )
    if entry is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return ModelResponse(StaffEntryOut.of(entry))


@router.get("/queue", responses=documented(401, 403, 404))
async def list_queue(
    caller: StaffCaller,
    services: ServicesDep,
    status_filter: Annotated[StatusFilter, Query(alias="status")] = "waiting",
    after: Annotated[int, Query(ge=0, le=2**62, description="Entries with a token above this one")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> StaffEntryList:
    """Entries in token order, a page at a time: pass the answer's ``nextAfter`` as ``after`` for the next
    page (``nextAfter`` is null on the last one)."""
    page = await services.queue.list_entries(
        restaurant_id=caller.restaurant_id, statuses=_STATUS_FILTERS[status_filter], after=after, limit=limit
    )
    return StaffEntryList(
        entries=[StaffEntryOut.of(entry) for entry in page.entries], next_after=page.next_after
    )


async def _transition(
    services: ServicesDep, caller: Caller, entry_id: uuid.UUID, transition: Transition
) -> StaffEntryOut:
    entry = await services.queue.transition(
        restaurant_id=caller.restaurant_id, entry_id=entry_id, transition=transition, actor=caller.actor
    )
    return StaffEntryOut.of(entry)


@router.post("/queue/{entry_id}/seat", responses=documented(401, 403, 404, 409))
async def seat(caller: StaffCaller, entry_id: uuid.UUID, services: ServicesDep) -> StaffEntryOut:
    return await _transition(services, caller, entry_id, Transition.SEAT)


@router.post("/queue/{entry_id}/no-show", responses=documented(401, 403, 404, 409))
async def no_show(caller: StaffCaller, entry_id: uuid.UUID, services: ServicesDep) -> StaffEntryOut:
    return await _transition(services, caller, entry_id, Transition.NO_SHOW)


@router.post("/queue/{entry_id}/cancel", responses=documented(401, 403, 404, 409))
async def cancel(caller: StaffCaller, entry_id: uuid.UUID, services: ServicesDep) -> StaffEntryOut:
    return await _transition(services, caller, entry_id, Transition.CANCEL)


async def _set_open(services: ServicesDep, caller: Caller, queue_open: bool) -> RestaurantOut:
    restaurant = await services.queue.set_open(
        restaurant_id=caller.restaurant_id, queue_open=queue_open, actor=caller.actor
    )
    return RestaurantOut(
        id=restaurant.id, slug=restaurant.slug, name=restaurant.name, open=restaurant.queue_open
    )


@router.post("/queue/pause", responses=documented(401, 403, 404))
async def pause(caller: StaffCaller, services: ServicesDep) -> RestaurantOut:
    """Stop taking new guests; the waiting ones stay in the queue."""
    return await _set_open(services, caller, False)


@router.post("/queue/resume", responses=documented(401, 403, 404))
async def resume(caller: StaffCaller, services: ServicesDep) -> RestaurantOut:
    return await _set_open(services, caller, True)
