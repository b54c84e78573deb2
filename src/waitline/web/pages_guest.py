"""The guest's pages: join a queue, watch your place live, leave; the "now serving" board; the QR code.

Each page has one context builder, used for the full page and for its live part (the SSE stream sends the
live part re-rendered from the same builder).
"""

from __future__ import annotations

import contextlib
import functools
import io
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field, StringConstraints, ValidationError

from waitline import phone
from waitline.domain import (
    MAX_PARTY_SIZE,
    Entry,
    IdempotencyKeyReused,
    InvalidMobileNumber,
    QueueClosed,
    RestaurantNotFound,
    TransitionNotAllowed,
    WaitlineError,
)
from waitline.services import Services
from waitline.web import csrf, live
from waitline.web.dependencies import ClientIP, ServicesDep, Slug
from waitline.web.problems import status_of
from waitline.web.rendering import PageRoute, Pages, PagesDep, wants_json
from waitline.web.schemas import GuestName, IdempotencyKey

router = APIRouter(route_class=PageRoute, dependencies=[Depends(csrf.protect)], include_in_schema=False)


# --- joining ----------------------------------------------------------------------------------------------


class JoinForm(BaseModel):
    name: GuestName
    mobile: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=40)]
    party_size: Annotated[int, Field(ge=1, le=MAX_PARTY_SIZE)]
    idempotency_key: IdempotencyKey | None = None


_FIELD_MESSAGES = {
    "name": "Please enter your name (up to 80 characters).",
    "mobile": "Please enter your mobile number.",
    "party_size": f"Please choose a party size from 1 to {MAX_PARTY_SIZE}.",
    "idempotency_key": "This form is damaged. Please reload the page.",
}


def _refusal(error: WaitlineError) -> tuple[str | None, str]:
    """(the form field it concerns, what to tell the guest) for a join the queue refused."""
    if isinstance(error, InvalidMobileNumber):
        return "mobile", error.detail
    if isinstance(error, QueueClosed):
        return (
            None,
            "The queue is paused: the restaurant is not taking new guests right now. Please ask at the door.",
        )
    if isinstance(error, IdempotencyKeyReused):
        return None, "This form was already sent with other details. Please reload the page to join again."
    return None, error.detail


async def join_context(*, services: Services, slug: str) -> dict[str, Any]:
    view = await services.views.join_view(slug=slug)
    region = view.summary.restaurant.default_region
    return {
        "view": view,
        "restaurant": view.summary.restaurant,
        "slug": slug,
        "calling_code": phone.calling_code(region) if region else None,
        "example_mobile": phone.example_mobile(region) if region else None,
        "max_party_size": MAX_PARTY_SIZE,
    }


@router.get("/{slug}")
async def join_page(request: Request, slug: Slug, services: ServicesDep, pages: PagesDep) -> Response:
    # The script replaces the key with crypto.randomUUID() on load; this one serves browsers without it.
    form = {"party_size": "2", "idempotency_key": str(uuid.uuid4())}
    return pages.page(request, "join.html", await join_form_context(services=services, slug=slug, form=form))


async def join_form_context(
    *, services: Services, slug: str, form: dict[str, str], refusal: Refusal | None = None
) -> dict[str, Any]:
    """The join page's context: the live part's, and the form as typed, with what was refused."""
    return {
        **await join_context(services=services, slug=slug),
        "form": form,
        "key": form.get("idempotency_key", ""),
        "errors": refusal.errors if refusal else {},
        "message": refusal.message if refusal else None,
    }


async def live_part(
    request: Request, pages: Pages, template: str, context: Callable[[], Awaitable[dict[str, Any]]]
) -> Response:
    """The live stream of a page's live part: ``template`` rendered from the page's context builder."""
    first = await context()  # also: an unknown address is a 404 here, not a stream

    async def render() -> str:
        return pages.fragment(template, await context())

    return live.stream(request, restaurant_id=first["restaurant"].id, render=render)


@router.get("/{slug}/live")
async def join_live(request: Request, slug: Slug, services: ServicesDep, pages: PagesDep) -> Response:
    context = functools.partial(join_context, services=services, slug=slug)
    return await live_part(request, pages, "_join_live.html", context)


@dataclass(frozen=True)
class Refusal:
    status_code: int
    message: str | None  # above the form
    errors: dict[str, str]  # next to the fields


async def _attempt_join(
    *, services: Services, client_ip: str, slug: str, submitted: dict[str, str]
) -> Entry | Refusal:
    try:
        form = JoinForm.model_validate(submitted)
    except ValidationError as error:
        fields = {str(item["loc"][0]) for item in error.errors()}
        return Refusal(422, None, {field: _FIELD_MESSAGES[field] for field in fields})
    try:
        result = await services.queue.join(
            client_ip=client_ip,
            slug=slug,
            name=form.name,
            mobile=form.mobile,
            party_size=form.party_size,
            idempotency_key=form.idempotency_key,
        )
    except RestaurantNotFound:
        raise
    except WaitlineError as error:  # refused: queue paused, invalid number, rate limited, ...
        field, text = _refusal(error)
        return Refusal(status_of(error), None if field else text, {field: text} if field else {})
    return result.entry


@router.post("/{slug}/join")
async def join(
    request: Request,
    slug: Slug,
    services: ServicesDep,
    pages: PagesDep,
    client_ip: ClientIP,
) -> Response:
    """One submission; a retry sends the same idempotency key, so it can never make a second entry.

    The page's script gets JSON; a browser without it gets the status page, or the form again.
    """
    posted = await request.form()
    submitted = {name: value for name in JoinForm.model_fields if isinstance(value := posted.get(name), str)}
    outcome = await _attempt_join(services=services, client_ip=client_ip, slug=slug, submitted=submitted)
    if isinstance(outcome, Entry):
        location = f"/{slug}/e/{outcome.id}"
        if wants_json(request):
            return JSONResponse({"location": location, "token": outcome.token_number})
        return RedirectResponse(location, status_code=303)
    if wants_json(request):
        return JSONResponse(
            {"message": outcome.message, "errors": outcome.errors}, status_code=outcome.status_code
        )
    context = await join_form_context(services=services, slug=slug, form=submitted, refusal=outcome)
    return pages.page(request, "join.html", context, status_code=outcome.status_code)


# --- the guest's place ------------------------------------------------------------------------------------


async def status_context(*, services: Services, slug: str, entry_id: uuid.UUID) -> dict[str, Any]:
    view = await services.views.guest_view(slug=slug, entry_id=entry_id)
    return {"view": view, "entry": view.entry, "restaurant": view.restaurant, "slug": slug}


@router.get("/{slug}/e/{entry_id}")
async def status_page(
    request: Request, slug: Slug, entry_id: uuid.UUID, services: ServicesDep, pages: PagesDep
) -> Response:
    context = await status_context(services=services, slug=slug, entry_id=entry_id)
    return pages.page(request, "status.html", context)


@router.get("/{slug}/e/{entry_id}/live")
async def status_live(
    request: Request, slug: Slug, entry_id: uuid.UUID, services: ServicesDep, pages: PagesDep
) -> Response:
    context = functools.partial(status_context, services=services, slug=slug, entry_id=entry_id)
    return await live_part(request, pages, "_status.html", context)


@router.post("/{slug}/e/{entry_id}/leave")
async def leave(slug: Slug, entry_id: uuid.UUID, services: ServicesDep) -> Response:
    with contextlib.suppress(TransitionNotAllowed):  # already seated, or left: the status page says which
        await services.queue.leave(slug=slug, entry_id=entry_id)
    return RedirectResponse(f"/{slug}/e/{entry_id}", status_code=303)


@router.post("/{slug}/e/{entry_id}/confirm")
async def confirm(slug: Slug, entry_id: uuid.UUID, services: ServicesDep) -> Response:
    """ "On my way": once, while called; otherwise the status page says where things stand."""
    await services.holds.confirm(slug=slug, entry_id=entry_id)
    return RedirectResponse(f"/{slug}/e/{entry_id}", status_code=303)


# --- the board and the QR code ----------------------------------------------------------------------------


async def board_context(*, services: Services, slug: str) -> dict[str, Any]:
    view = await services.views.board_view(slug=slug)
    return {"view": view, "restaurant": view.summary.restaurant, "slug": slug}


@router.get("/{slug}/board")
async def board_page(request: Request, slug: Slug, services: ServicesDep, pages: PagesDep) -> Response:
    context = await board_context(services=services, slug=slug)
    return pages.page(request, "board.html", {**context, "join_url": join_url(request, pages, slug)})


@router.get("/{slug}/board/live")
async def board_live(request: Request, slug: Slug, services: ServicesDep, pages: PagesDep) -> Response:
    context = functools.partial(board_context, services=services, slug=slug)
    return await live_part(request, pages, "_board.html", context)


def join_url(request: Request, pages: Pages, slug: str) -> str:
    return f"{pages.base_url(request)}/{slug}"


@router.get("/{slug}/qr.svg")
async def qr_code(request: Request, slug: Slug, services: ServicesDep, pages: PagesDep) -> Response:
    """The join page's address as a QR code (SVG), for the poster and the board."""
    restaurant = await services.restaurants.get(slug=slug)
    svg = io.BytesIO()
    segno.make(join_url(request, pages, slug), error="m").save(
        svg, kind="svg", scale=8, border=2, xmldecl=False, title=f"Join the queue at {restaurant.name}"
    )
    # Without WAITLINE_PUBLIC_URL the address comes from the request's Host: no shared cache may keep it.
    return Response(
        svg.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "private, no-cache"}
    )
