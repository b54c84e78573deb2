"""The analytics pages of a location and the overview across locations, with their CSV exports.

Access: the staff session of the location (``pages_staff.signed_in``), the one place it is decided today.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from waitline.domain import Action, permits
from waitline.domain.analytics import Report
from waitline.web import charts
from waitline.web.analytics_range import Days
from waitline.web.dependencies import ServicesDep
from waitline.web.pages_staff import SignedIn
from waitline.web.policy import Authorised
from waitline.web.rendering import PageRoute, PagesDep

# Who may: web/policy.py (a location's owner or manager).
router = APIRouter(prefix="/staff/{slug}/analytics", route_class=PageRoute, include_in_schema=False)


def _minutes(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} min"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _charts(report: Report) -> dict[str, Any]:
    waits = report.waits
    by_hour = {hour: stats.parties for hour, stats in waits.by_hour.items()}
    return {
        "heatmap": charts.heatmap(by_hour, label="Parties joined by hour of the week"),
        "by_size": charts.bars(
            [(str(size), stats.seat_median, stats.seat_p90) for size, stats in waits.by_party_size.items()],
            label="Join to seat by party size: median and 90th percentile",
        ),
        "by_hour": charts.bars(
            [
                (f"{charts.DAYS[hour // 24]} {hour % 24:02d}", stats.seat_median, stats.seat_p90)
                for hour, stats in waits.by_hour.items()
            ],
            label="Join to seat by hour of the week: median and 90th percentile",
        ),
    }


@router.get("")
async def location(
    request: Request, session: SignedIn, services: ServicesDep, pages: PagesDep, days: Days
) -> Response:
    found = await services.analytics.location(
        restaurant_id=session.restaurant.id, first=days.first, last=days.last, zone=days.zone
    )
    context = {
        "restaurant": session.restaurant,
        "slug": session.restaurant.slug,
        "days": days,
        "report": found.report,
        "calibration": found.calibration,
        "minutes": _minutes,
        "share": _share,
        "day_names": charts.DAYS,
        **_charts(found.report),
    }
    return pages.page(request, "analytics.html", context)


@router.get("/overview")
async def overview(
    request: Request,
    grant: Authorised,
    session: SignedIn,
    services: ServicesDep,
    pages: PagesDep,
    days: Days,
) -> Response:
    """An owner's locations together (a manager's: their own), days counted in this location's zone."""
    locations = (
        await services.admin.locations(grant)
        if permits(grant.role, Action.ORGANISATION)
        else [session.restaurant]
    )
    found = await services.analytics.overview(
        restaurant_ids=[location.id for location in locations],
        first=days.first,
        last=days.last,
        zone=days.zone,
    )
    context = {
        "restaurant": session.restaurant,
        "slug": session.restaurant.slug,
        "days": days,
        "overview": found,
        "report": found.total,
        "minutes": _minutes,
        "share": _share,
        **_charts(found.total),
    }
    return pages.page(request, "analytics_overview.html", context)


async def _csv(columns: Sequence[str], rows: AsyncIterator[Mapping[str, Any]]) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    count = 0
    async for row in rows:
        writer.writerow(["" if row[column] is None else _cell(row[column]) for column in columns])
        count += 1
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _cell(value: Any) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    # A cell a spreadsheet would run as a formula is quoted as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _download(name: str, body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.get("/entries.csv")
async def entries_csv(session: SignedIn, services: ServicesDep, days: Days) -> StreamingResponse:
    rows = services.analytics.entries(
        restaurant_id=session.restaurant.id, first=days.first, last=days.last, zone=days.zone
    )
    name = f"{session.restaurant.slug}-entries-{days.first}-{days.last}.csv"
    return _download(name, _csv(services.analytics.entry_columns, rows))


@router.get("/events.csv")
async def events_csv(session: SignedIn, services: ServicesDep, days: Days) -> StreamingResponse:
    rows = services.analytics.events(
        restaurant_id=session.restaurant.id, first=days.first, last=days.last, zone=days.zone
    )
    name = f"{session.restaurant.slug}-events-{days.first}-{days.last}.csv"
    return _download(name, _csv(services.analytics.event_columns, rows))
