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
from datetime import UTC, datetime
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field, StringConstraints, ValidationError, field_validator

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
from waitline.language import N_, clock_time, day_of_year, translate
from waitline.push import Subscription
from waitline.services import Services
from waitline.web import csrf, languages, live
from waitline.web.dependencies import ClientIP, ServicesDep, Slug
from waitline.web.problems import problem_response, status_of
from waitline.web.rendering import STATIC_DIRECTORY, PageRoute, Pages, PagesDep, wants_json
from waitline.web.schemas import EmailAddress, GuestName, IdempotencyKey

router = APIRouter(route_class=PageRoute, dependencies=[Depends(csrf.protect)], include_in_schema=False)


@router.get("/sw.js")
async def service_worker() -> Response:
    """The service worker for web push, at the root so that its scope is the whole site (declared before
    ``/{slug}``, which would take the path otherwise)."""
    return FileResponse(
        STATIC_DIRECTORY / "sw.js",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


# --- joining ----------------------------------------------------------------------------------------------


class JoinForm(BaseModel):
    name: GuestName
    mobile: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=40)]
    party_size: Annotated[int, Field(ge=1, le=MAX_PARTY_SIZE)]
    idempotency_key: IdempotencyKey | None = None
    email: EmailAddress | None = None

    @field_validator("email", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


# Message ids (English); the guest reads them in their language (``_refusal``, ``_attempt_join``).
_FIELD_MESSAGES = {
    "name": N_("Please enter your name (up to 80 characters)."),
    "mobile": N_("Please enter your mobile number."),
    "party_size": N_("Please choose a party size from 1 to %(max)s."),
    "idempotency_key": N_("This form is damaged. Please reload the page."),
    "email": N_("Please enter an email address such as ada@example.com, or leave it empty."),
}


def _refusal(error: WaitlineError) -> tuple[str | None, str]:
    """(the form field it concerns, what to tell the guest: a message id) for a join the queue refused."""
    if isinstance(error, InvalidMobileNumber):
        return "mobile", error.detail
    if isinstance(error, QueueClosed) and error.opens_at is not None:
        return None, N_("The queue is closed now. It opens again on %(day)s at %(time)s.")
    if isinstance(error, QueueClosed) and error.outside_hours:
        return None, N_("The queue is closed: no opening hours are set ahead.")
    if isinstance(error, QueueClosed):
        return (
            None,
            N_(
                "The queue is paused: the restaurant is not taking new guests right now. "
                "Please ask at the door."
            ),
        )
    if isinstance(error, IdempotencyKeyReused):
        return None, N_(
            "This form was already sent with other details. Please reload the page to join again."
        )
    # The other refusals a guest can meet say their domain message (each is in wording.GUEST_ERRORS).
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
        "time_zone": languages.location_time_zone(view.summary.restaurant),
    }


@router.get("/{slug}")
async def join_page(request: Request, slug: Slug, services: ServicesDep, pages: PagesDep) -> Response:
    # The script replaces the key with crypto.randomUUID() on load; this one serves browsers without it.
    form = {"party_size": "2", "idempotency_key": str(uuid.uuid4())}
    context = await join_form_context(services=services, slug=slug, form=form)
    closed = await services.queue.closed_for_hours(slug=slug)
    context = in_language(request, context)
    if closed is not None:  # outside opening hours: said before anyone types anything
        context["message"] = _refused(closed).translated(context["language"]).message
    return pages.page(request, "join.html", context)


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
    language = languages.page_language(request, first["restaurant"])

    async def render() -> str:
        return pages.fragment(template, {**await context(), "language": language})

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
    opens_at: datetime | None = None  # outside opening hours: the next opening, in the location's zone

    def translated(self, language: str) -> Refusal:
        """The message ids in ``language``."""
        values: dict[str, object] = {"max": MAX_PARTY_SIZE}
        if self.opens_at is not None:
            values["day"] = day_of_year(self.opens_at, language)
            values["time"] = clock_time(self.opens_at, language, self.opens_at.tzinfo or UTC)

        def text(message: str) -> str:
            return translate(language, message, **values)

        message = text(self.message) if self.message else None
        return Refusal(
            self.status_code, message, {field: text(value) for field, value in self.errors.items()}
        )


def _refused(error: WaitlineError) -> Refusal:
    """What the join form tells the guest of a join the queue refused (message ids, still in English)."""
    field, text = _refusal(error)
    opens_at = error.opens_at if isinstance(error, QueueClosed) else None
    return Refusal(status_of(error), None if field else text, {field: text} if field else {}, opens_at)


async def _attempt_join(
    *, services: Services, client_ip: str, slug: str, submitted: dict[str, str], language: str | None
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
            email=form.email,
            language=language,
        )
    except RestaurantNotFound:
        raise
    except WaitlineError as error:  # refused: queue paused, invalid number, rate limited, ...
        return _refused(error)
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
    # The guest's messages are written in the language the join page was shown in: their own choice (the
    # switch, else the browser's), else the location's default (None: read when each message is sent).
    outcome = await _attempt_join(
        services=services,
        client_ip=client_ip,
        slug=slug,
        submitted=submitted,
        language=languages.guest_choice(request),
    )
    if isinstance(outcome, Entry):
        location = f"/{slug}/e/{outcome.id}"
        if wants_json(request):
            return JSONResponse({"location": location, "token": outcome.token_number})
        return RedirectResponse(location, status_code=303)
    # Refused: told in the guest's language (the location's default is looked up only when needed).
    if wants_json(request):
        language = languages.guest_choice(request) or languages.page_language(
            request, await services.restaurants.get(slug=slug)
        )
        refusal = outcome.translated(language)
        return JSONResponse(
            {"message": refusal.message, "errors": refusal.errors}, status_code=refusal.status_code
        )
    context = in_language(
        request,
        await join_form_context(services=services, slug=slug, form=submitted, refusal=outcome),
        path=f"/{slug}",
    )
    refusal = outcome.translated(context["language"])
    context = {**context, "errors": refusal.errors, "message": refusal.message}
    return pages.page(request, "join.html", context, status_code=refusal.status_code)


# --- the guest's place ------------------------------------------------------------------------------------


async def status_context(*, services: Services, slug: str, entry_id: uuid.UUID) -> dict[str, Any]:
    view = await services.views.guest_view(slug=slug, entry_id=entry_id)
    return {
        "view": view,
        "entry": view.entry,
        "restaurant": view.restaurant,
        "slug": slug,
        "time_zone": languages.location_time_zone(view.restaurant),
    }


@router.get("/{slug}/e/{entry_id}")
async def status_page(
    request: Request, slug: Slug, entry_id: uuid.UUID, services: ServicesDep, pages: PagesDep
) -> Response:
    context = await status_context(services=services, slug=slug, entry_id=entry_id)
    # Web push on: the key the browser subscribes with (made once, kept); off: no opt-in button.
    context["push_key"] = await services.pushes.public_key() if request.app.state.settings.web_push else None
    return pages.page(request, "status.html", in_language(request, context))


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


class PushKeys(BaseModel):
    p256dh: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_=-]+$")]
    auth: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_=-]+$")]


class PushSubscriptionBody(BaseModel):
    """What the browser's PushSubscription.toJSON() gives (expirationTime and the rest ignored)."""

    endpoint: Annotated[str, StringConstraints(min_length=10, max_length=2000, pattern=r"^https?://\S+$")]
    keys: PushKeys


@router.post("/{slug}/e/{entry_id}/push")
async def push_subscribe(
    request: Request, slug: Slug, entry_id: uuid.UUID, services: ServicesDep
) -> Response:
    """ "Tell me when it's my turn": keep this browser's push subscription (JSON; X-CSRF-Token header)."""
    try:
        body = PushSubscriptionBody.model_validate_json(await request.body())
    except ValidationError:
        return problem_response(
            status=422,
            code="validation-failed",
            title="Validation failed",
            detail="Send the browser's PushSubscription as JSON: an http(s) endpoint, keys p256dh and auth.",
        )
    subscription = Subscription(body.endpoint, body.keys.p256dh, body.keys.auth)
    kept = await services.pushes.subscribe(slug=slug, entry_id=entry_id, subscription=subscription)
    return Response(status_code=204 if kept else 409)


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
    context = in_language(request, {**context, "join_url": join_url(request, pages, slug)})
    return pages.page(request, "board.html", context)


@router.get("/{slug}/board/live")
async def board_live(request: Request, slug: Slug, services: ServicesDep, pages: PagesDep) -> Response:
    context = functools.partial(board_context, services=services, slug=slug)
    return await live_part(request, pages, "_board.html", context)


def in_language(request: Request, context: dict[str, Any], *, path: str | None = None) -> dict[str, Any]:
    """A guest page's context with the language it is shown in (see web/languages.py), and the address its
    language switch reloads (``path``: this page's own, unless it answered a form)."""
    return {
        **context,
        "language": languages.page_language(request, context["restaurant"]),
        "switch_path": path or request.url.path,
    }


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
