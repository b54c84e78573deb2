"""The event log over HTTP: a restaurant's events in seq order, a page at a time (staff token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from waitline.web.dependencies import ServicesDep, StaffCaller
from waitline.web.problems import documented
from waitline.web.schemas import EventList, EventOut

router = APIRouter(prefix="/api/admin/{restaurantId}", tags=["staff"])


@router.get("/events", responses=documented(401, 403, 404))
async def list_events(
    caller: StaffCaller,
    services: ServicesDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="Events with a seq above this one")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventList:
    """Every change of the queue, in the order it happened (gapless ``seq`` from 1). Resume from the answer's
    ``lastSeq``: it is the last seq on the page, or ``after`` itself when nothing newer exists yet."""
    page = await services.events.page(restaurant_id=caller.restaurant_id, after=after, limit=limit)
    return EventList(events=[EventOut.of(event) for event in page.events], last_seq=page.last_seq)
