"""The staff pages: sign in, the live dashboard (call next, seat, no-show, cancel, pause), the QR poster.

Actions are forms that htmx posts (plain POSTs without JavaScript); the answer is the dashboard's live part
re-rendered from the same context builder as the page, with a notice saying what happened, including when
another device acted first and nothing changed.
"""

from __future__ import annotations

import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from markupsafe import Markup
from pydantic import BaseModel, Field, ValidationError, field_validator

from waitline.config import Settings
from waitline.domain import (
    MAX_EMAIL_LENGTH,
    MAX_PARTY_SIZE,
    MAX_PASSWORD_LENGTH,
    Actor,
    Entry,
    LoginFailed,
    LoginThrottled,
    QueueChanged,
    Restaurant,
    StaffMember,
    StaffSession,
    Transition,
    TransitionNotAllowed,
)
from waitline.domain.message import MessageKind, NoticePolicy
from waitline.language import ENGLISH, LANGUAGES, NAMES, supported
from waitline.ratelimit import RateLimited
from waitline.services import Services
from waitline.services.access import Grant
from waitline.services.texts import CHANNELS as TEXT_CHANNELS
from waitline.services.texts import MAX_ALMOST_UP, MAX_HOLD_MINUTES, MAX_TEXT_CHARS, TextChange, TextSetting
from waitline.services.texts import preview as text_preview
from waitline.web import csrf, live, policy, wording
from waitline.web.dependencies import ClientIP, ServicesDep, Slug
from waitline.web.pages_guest import in_language, join_url
from waitline.web.policy import SESSION_COOKIE, Authorised
from waitline.web.problems import status_of
from waitline.web.rendering import PageRoute, Pages, PagesDep, is_htmx

# The cookie reaches /admin as well: a manager's settings pages live there.
SESSION_COOKIE_PATH = "/"

router = APIRouter(
    prefix="/staff/{slug}",
    route_class=PageRoute,
    dependencies=[Depends(csrf.protect)],
    include_in_schema=False,
)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def session_of(grant: Grant) -> StaffSession:
    """Who the dashboard shows as signed in, from the grant web/policy.py gave the request."""
    assert grant.principal is not None and grant.restaurant is not None and grant.role is not None
    member = StaffMember(
        id=grant.principal.id,
        restaurant_id=grant.restaurant.id,
        email=grant.principal.email or "",
        role=grant.role.value,
    )
    return StaffSession(staff=member, restaurant=grant.restaurant)


async def signed_in(grant: Authorised) -> StaffSession:
    """The staff member (or owner) let in to this restaurant's dashboard by web/policy.py."""
    return session_of(grant)


SignedIn = Annotated[StaffSession, Depends(signed_in)]


# --- signing in and out -----------------------------------------------------------------------------------


def _login_page(
    request: Request,
    pages: Pages,
    restaurant: Restaurant,
    *,
    email: str = "",
    message: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    context = {"slug": restaurant.slug, "restaurant": restaurant, "email": email, "message": message}
    return pages.page(request, "login.html", context, status_code=status_code, headers=headers)


@router.get("/login")
async def login_page(request: Request, slug: Slug, services: ServicesDep, pages: PagesDep) -> Response:
    restaurant = await services.restaurants.get(slug=slug)
    return _login_page(request, pages, restaurant)


def _plausible_email(email: str) -> bool:
    """Worth a look-up and a throttle row: at most 254 printable characters (RFC 5321's limit)."""
    return 0 < len(email) <= MAX_EMAIL_LENGTH and email.isprintable()


@router.post("/login")
async def log_in(
    request: Request,
    slug: Slug,
    services: ServicesDep,
    pages: PagesDep,
    settings: SettingsDep,
    client_ip: ClientIP,
) -> Response:
    form = await request.form()
    email, password = (str(form.get(name) or "") for name in ("email", "password"))
    restaurant = await services.restaurants.get(slug=slug)
    try:
        await services.accounts.count_sign_in_attempt(
            policy=request.app.state.sign_in_limit, client_ip=client_ip, now=services.clock()
        )
        if not _plausible_email(email) or not password or len(password) > MAX_PASSWORD_LENGTH:
            raise LoginFailed()
        secret = await services.accounts.log_in(
            slug=slug,
            email=email,
            password=password,
            client=client_ip,
            session_lifetime=timedelta(hours=settings.staff_session_hours),
        )
    except LoginFailed as error:
        return _login_page(request, pages, restaurant, email=email, message=error.detail, status_code=401)
    except RateLimited as error:
        wait = max(math.ceil(error.decision.retry_after), 1)
        return _login_page(
            request,
            pages,
            restaurant,
            email=email,
            message=f"Too many sign-in attempts from this device. Please try again in {wait} seconds.",
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    except LoginThrottled as error:
        retry_after = {"Retry-After": str(error.retry_after_seconds)}
        return _login_page(
            request,
            pages,
            restaurant,
            email=email,
            message=error.detail,
            status_code=429,
            headers=retry_after,
        )
    response = RedirectResponse(f"/staff/{slug}", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(settings.staff_session_hours * 3600),
        path=SESSION_COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=pages.secure(request),
    )
    csrf.renew(response, secure=pages.secure(request))
    return response


@router.post("/logout")
async def log_out(request: Request, slug: Slug, services: ServicesDep) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        await services.accounts.log_out(secret=secret)
    response = RedirectResponse(f"/staff/{slug}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=SESSION_COOKIE_PATH, httponly=True, samesite="lax")
    return response


# --- the dashboard ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Desk:
    """A signed-in staff member's view of the dashboard, for one request."""

    request: Request
    services: Services
    pages: Pages
    session: StaffSession
    settings: Settings
    grant: Grant

    async def context(self) -> dict[str, Any]:
        """The one context builder of the dashboard: for the page, its live part and each action's answer."""
        view = await self.services.views.dashboard_view(
            restaurant_id=self.session.restaurant.id, zone=self.settings.zone
        )
        return {
            "view": view,
            "restaurant": view.restaurant,
            "slug": view.restaurant.slug,
            "staff": self.session.staff,
            "csrf_token": csrf.token(self.request),
            "max_party_size": MAX_PARTY_SIZE,
            # A fresh key in each "resend table ready" form: a double tap sends one key twice (one text).
            "new_key": lambda: secrets.token_urlsafe(16),
        }

    @property
    def actor(self) -> Actor:
        return self.grant.actor

    async def answer(self, notice: str, *, refused: bool = False, status_code: int = 200) -> Response:
        """After an action: the live part (htmx) or the whole page, with what happened."""
        context = await self.context()
        notice_context = {"notice": {"text": notice, "refused": refused}}
        if is_htmx(self.request):
            html = self.pages.fragment("_dashboard.html", context)
            html += self.pages.fragment("_notice.html", {**notice_context, "out_of_band": True})
            return self.pages.html(html, status_code=status_code)
        return self.pages.page(
            self.request, "dashboard.html", {**context, **notice_context}, status_code=status_code
        )


async def desk(
    request: Request, grant: Authorised, services: ServicesDep, pages: PagesDep, settings: SettingsDep
) -> Desk:
    return Desk(
        request=request,
        services=services,
        pages=pages,
        session=session_of(grant),
        settings=settings,
        grant=grant,
    )


DeskDep = Annotated[Desk, Depends(desk)]


@router.get("")
async def dashboard(desk: DeskDep) -> Response:
    return desk.pages.page(desk.request, "dashboard.html", {**await desk.context(), "notice": None})


@router.get("/live")
async def dashboard_live(
    request: Request, grant: Authorised, services: ServicesDep, pages: PagesDep, settings: SettingsDep
) -> Response:
    if grant.restaurant is None:  # refused (web/policy.py): the stream ends quietly
        return Response(live.ended_event(), media_type=live.EventStream.media_type)

    async def render() -> str:
        # Access is checked again on every re-read (the same policy): signing out, expiry or revocation
        # ends the stream.
        current = await policy.check(request)
        current_desk = Desk(
            request=request,
            services=services,
            pages=pages,
            session=session_of(current),
            settings=settings,
            grant=current,
        )
        return pages.fragment("_dashboard.html", await current_desk.context())

    return live.stream(request, restaurant_id=grant.restaurant.id, render=render, staff=True)


def _party(entry: Entry) -> Markup:
    """Markup (the name escaped) with the name in <bdi>: a right-to-left name must not reorder the token and
    the party size around it."""
    people = "person" if entry.party_size == 1 else "people"
    party = Markup("#{} <bdi>{}</bdi> ({} {})")
    return party.format(entry.token_number, entry.name, entry.party_size, people)


class CallNextForm(BaseModel):
    max_party_size: Annotated[int, Field(ge=1, le=MAX_PARTY_SIZE)] | None = None
    # The latest call the pressing device had seen (see services.staff_call_next).
    seen_last_call: uuid.UUID | None = None

    @field_validator("max_party_size", "seen_last_call", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value


@router.post("/call-next")
async def call_next(desk: DeskDep) -> Response:
    submitted = await desk.request.form()
    try:
        form = CallNextForm.model_validate({name: submitted.get(name) for name in CallNextForm.model_fields})
    except ValidationError:
        notice = f"A table size is a number from 1 to {MAX_PARTY_SIZE}."
        return await desk.answer(notice, refused=True, status_code=422)
    try:
        entry = await desk.services.queue.staff_call_next(
            restaurant_id=desk.session.restaurant.id,
            max_party_size=form.max_party_size,
            seen_last_call=form.seen_last_call,
            actor=desk.actor,
        )
    except QueueChanged as error:
        return await desk.answer(error.detail, refused=True, status_code=409)
    if entry is not None:
        return await desk.answer(Markup("Called {}.").format(_party(entry)))
    if form.max_party_size:
        return await desk.answer(f"Nobody waiting fits a table of {form.max_party_size}.")
    return await desk.answer("Nobody is waiting.")


class ResendForm(BaseModel):
    resend_key: Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.post("/entries/{entry_id}/resend")
async def resend_table_ready(entry_id: uuid.UUID, desk: DeskDep) -> Response:
    submitted = await desk.request.form()
    try:
        form = ResendForm.model_validate({"resend_key": submitted.get("resend_key")})
    except ValidationError:
        return await desk.answer("This form has expired: please try again.", refused=True, status_code=422)
    sent = await desk.services.holds.resend_table_ready(
        restaurant_id=desk.session.restaurant.id, entry_id=entry_id, key=form.resend_key
    )
    if sent:
        return await desk.answer("Sent “table ready” again.")
    return await desk.answer("Nothing sent: already sent for this press, or the party is no longer called.")


_ACTIONS = {
    "seat": (Transition.SEAT, Markup("Seated {party}.")),
    "no-show": (Transition.NO_SHOW, Markup("Marked {party} as a no-show.")),
    "cancel": (Transition.CANCEL, Markup("Cancelled {party}.")),
}


@router.post("/entries/{entry_id}/{action}")
async def entry_action(entry_id: uuid.UUID, action: str, desk: DeskDep) -> Response:
    if action not in _ACTIONS:
        return await desk.answer("Unknown action.", refused=True, status_code=404)
    transition, done = _ACTIONS[action]
    try:
        entry = await desk.services.queue.transition(
            restaurant_id=desk.session.restaurant.id,
            entry_id=entry_id,
            transition=transition,
            actor=desk.actor,
        )
    except TransitionNotAllowed as error:
        # Another device acted on this entry first: nothing changed, and this one is told so.
        return await desk.answer(wording.nothing_changed(error), refused=True, status_code=status_of(error))
    return await desk.answer(done.format(party=_party(entry)))


async def _set_open(desk: Desk, *, queue_open: bool) -> Response:
    await desk.services.queue.set_open(
        restaurant_id=desk.session.restaurant.id, queue_open=queue_open, actor=desk.actor
    )
    if queue_open:
        return await desk.answer("The queue is open: guests can join.")
    return await desk.answer("The queue is paused: no new guests can join.")


@router.post("/pause")
async def pause(desk: DeskDep) -> Response:
    return await _set_open(desk, queue_open=False)


@router.post("/resume")
async def resume(desk: DeskDep) -> Response:
    return await _set_open(desk, queue_open=True)


@router.get("/poster")
async def poster(request: Request, session: SignedIn, pages: PagesDep) -> Response:
    """A printable page: the restaurant's name, the QR code of its join page and the address in words.

    Guests read it: it is in a guest's language (the switch, the browser's, the location's), not English."""
    slug = session.restaurant.slug
    context = {"restaurant": session.restaurant, "slug": slug, "join_url": join_url(request, pages, slug)}
    return pages.page(request, "poster.html", in_language(request, context))


# --- the texts to guests (issue 9) -------------------------------------------------------------------------


@router.get("/messages")
async def message_texts(
    request: Request, session: SignedIn, services: ServicesDep, pages: PagesDep
) -> Response:
    """Each message's text in one language (?language=, else the location's default), with placeholders and a
    preview, and whether it goes out, per channel."""
    text_language = _text_language(request.query_params.get("language"), session)
    settings = await services.texts.settings(
        restaurant_id=session.restaurant.id, restaurant_name=session.restaurant.name, language=text_language
    )
    return await _messages_page(request, pages, session, services, settings, None, text_language)


def _text_language(asked: object, session: StaffSession) -> str:
    """The language whose texts the page edits: the one asked for, if it is one of ours, else the location's
    default."""
    return (
        supported(asked if isinstance(asked, str) else None)
        or supported(session.restaurant.default_language)
        or ENGLISH
    )


class PolicyForm(BaseModel):
    hold_minutes: Annotated[int, Field(ge=0, le=MAX_HOLD_MINUTES)]
    almost_up: Annotated[int, Field(ge=0, le=MAX_ALMOST_UP)]
    auto_no_show: bool = False


@router.post("/messages/policy")
async def save_notice_policy(
    request: Request, session: SignedIn, services: ServicesDep, pages: PagesDep
) -> Response:
    """The hold window's length, automatic no-shows, and which position is told "almost up"."""
    submitted = await request.form()
    name = session.restaurant.name
    text_language = _text_language(submitted.get("language"), session)
    settings = await services.texts.settings(
        restaurant_id=session.restaurant.id, restaurant_name=name, language=text_language
    )
    try:
        form = PolicyForm.model_validate(
            {
                "hold_minutes": submitted.get("hold_minutes"),
                "almost_up": submitted.get("almost_up"),
                "auto_no_show": submitted.get("auto_no_show") == "1",
            }
        )
    except ValidationError:
        notice = {
            "text": f"The hold is 0 to {MAX_HOLD_MINUTES} minutes; the position 0 to {MAX_ALMOST_UP}.",
            "refused": True,
        }
        return await _messages_page(
            request, pages, session, services, settings, notice, text_language, status_code=422
        )
    policy = NoticePolicy(form.hold_minutes, form.auto_no_show, form.almost_up)
    await services.texts.set_policy(restaurant_id=session.restaurant.id, policy=policy)
    return await _messages_page(
        request, pages, session, services, settings, {"text": "Saved.", "refused": False}, text_language
    )


@router.post("/messages")
async def save_message_texts(
    request: Request, session: SignedIn, services: ServicesDep, pages: PagesDep
) -> Response:
    submitted = await request.form()
    changes = [
        TextChange(
            kind=kind,
            channel=channel,
            text=str(submitted.get(f"text-{kind.value}-{channel}") or ""),
            enabled=submitted.get(f"on-{kind.value}-{channel}") == "1",
        )
        for kind in MessageKind
        for channel in TEXT_CHANNELS
    ]
    too_long = [change.kind.value for change in changes if len(change.text) > MAX_TEXT_CHARS]
    name = session.restaurant.name
    text_language = _text_language(submitted.get("language"), session)
    if too_long or submitted.get("do") == "preview":
        settings = [
            TextSetting(c.kind, c.channel, c.text, True, c.enabled, text_preview(c.text, name, text_language))
            for c in changes
        ]
        notice = (
            {"text": f"At most {MAX_TEXT_CHARS} characters a text: {', '.join(too_long)}.", "refused": True}
            if too_long
            else {"text": "Preview only: nothing saved yet.", "refused": False}
        )
        return await _messages_page(
            request,
            pages,
            session,
            services,
            settings,
            notice,
            text_language,
            status_code=422 if too_long else 200,
        )
    await services.texts.save(restaurant_id=session.restaurant.id, language=text_language, changes=changes)
    settings = await services.texts.settings(
        restaurant_id=session.restaurant.id, restaurant_name=name, language=text_language
    )
    return await _messages_page(
        request, pages, session, services, settings, {"text": "Saved.", "refused": False}, text_language
    )


async def _messages_page(
    request: Request,
    pages: Pages,
    session: StaffSession,
    services: Services,
    settings: list[TextSetting],
    notice: dict[str, Any] | None,
    text_language: str,
    *,
    status_code: int = 200,
) -> Response:
    context = {
        "restaurant": session.restaurant,
        "slug": session.restaurant.slug,
        "settings": settings,
        "text_language": text_language,
        "text_languages": [(code, NAMES[code]) for code in LANGUAGES],
        "notice": notice,
        "csrf_token": csrf.token(request),
        "max_chars": MAX_TEXT_CHARS,
        "policy": await services.texts.policy(restaurant_id=session.restaurant.id),
        "max_hold": MAX_HOLD_MINUTES,
        "max_almost_up": MAX_ALMOST_UP,
    }
    return pages.page(request, "messages.html", context, status_code=status_code)
