"""The analytics API: one location's figures for a range of days, for a staff bearer token."""

from __future__ import annotations

from fastapi import APIRouter

from waitline.web.analytics_range import Days
from waitline.web.dependencies import ServicesDep
from waitline.web.problems import documented
from waitline.web.schemas_analytics import AnalyticsOut

# Who may: web/policy.py (the API's tokens, as for the event log this is read from).
router = APIRouter(prefix="/api/admin/{restaurantId}", tags=["analytics"])


@router.get("/analytics", responses=documented(401, 403, 404, 422))
async def analytics(services: ServicesDep, days: Days) -> AnalyticsOut:
    """Parties joined, seated, no-show, cancelled and left; waits (minutes) overall, by hour of the week and
    by party size; how many were seated within their quoted range. ``from`` and ``to`` are days in the
    location's time zone, both included."""
    found = await services.analytics.location(
        restaurant_id=days.restaurant.id, first=days.first, last=days.last, zone=days.zone
    )
    return AnalyticsOut.of(
        found.report,
        first=days.first,
        last=days.last,
        zone=str(days.zone),
        quote_coverage=found.calibration.coverage,
    )
