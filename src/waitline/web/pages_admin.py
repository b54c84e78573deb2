"""The admin pages (/admin): owners sign in, see their locations and create new ones, read the audit trail;
owners and managers edit a location's settings, invite staff, change roles, revoke staff and API tokens.
Staff accept an invitation at /invite/<secret>.

Who may open each page is decided by web/policy.py (the app-wide dependency); the handlers here only read
the grant it gave. Forms are plain POSTs with the CSRF token, answered with the page and a notice.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import RedirectResponse

from waitline.config import Settings
from waitline.domain import (
    RESERVED_SLUGS,
    SLUG_PATTERN,
    InviteInvalid,
    LoginFailed,
    LoginThrottled,
    PasswordUnacceptable,
    Role,
    SettingsInvalid,
    SlugTaken,
    StaffExists,
)
from waitline.domain.location import WEEKDAYS, hours_text, parse_settings
from waitline.ratelimit import RateLimited
from waitline.services.access import Grant
from waitline.web import csrf
from waitline.web.dependencies import ClientIP, ServicesDep
from waitline.web.policy import OWNER_COOKIE, Authorised
from waitline.web.rendering import PageRoute, Pages, PagesDep

router = APIRouter(route_class=PageRoute, dependencies=[Depends(csrf.protect)], include_in_schema=False)

LOCATION = "/admin/locations/{slug}"
InviteSecret = Annotated[str, Path(min_length=20, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
ROLE_CHOICES = (Role.HOST, Role.MANAGER)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _form(request: Request) -> dict[str, str]:
    return {key: str(value) for key, value in (await request.form()).items()}


def _base(grant: Grant) -> dict[str, Any]:
    base: dict[str, Any] = {
        "grant": grant,
        "role": grant.role.value if grant.role else None,
        "roles": ROLE_CHOICES,
        "notice": None,
    }
    if grant.restaurant is not None:
        base.update(restaurant=grant.restaurant, slug=grant.restaurant.slug)
    return base


def _show(
    request: Request, pages: Pages, template: str, grant: Grant, status: int = 200, **extra: Any
) -> Response:
    return pages.page(request, template, {**_base(grant), **extra}, status_code=status)


# --- owners signing in ------------------------------------------------------------------------------------


@router.get("/admin/login")
async def login_page(request: Request, pages: PagesDep) -> Response:
    return pages.page(request, "admin_login.html", {"email": "", "message": None})


TOO_MANY_ATTEMPTS = "Too many sign-in attempts. Please wait."


@router.post("/admin/login")
async def log_in(request: Request, services: ServicesDep, pages: PagesDep, client_ip: ClientIP) -> Response:
    form = await _form(request)
    email, password = form.get("email", ""), form.get("password", "")
    settings = _settings(request)
    try:
        await services.accounts.count_sign_in_attempt(
            policy=request.app.state.sign_in_limit, client_ip=client_ip, now=services.clock()
        )
        if not email or not password or len(email) > 254 or len(password) > 1024:
            raise LoginFailed()
        secret = await services.access.owner_log_in(
            email=email,
            password=password,
            client=client_ip,
            session_lifetime=timedelta(hours=settings.staff_session_hours),
        )
    except (LoginFailed, LoginThrottled, RateLimited) as error:
        message = error.detail if isinstance(error, LoginFailed | LoginThrottled) else TOO_MANY_ATTEMPTS
        status = 401 if isinstance(error, LoginFailed) else 429
        headers = (
            {"Retry-After": str(error.retry_after_seconds)} if isinstance(error, LoginThrottled) else None
        )
        return pages.page(
            request,
            "admin_login.html",
            {"email": email, "message": message},
            status_code=status,
            headers=headers,
        )
    response = RedirectResponse("/admin", status_code=303)
    csrf.renew(response, secure=pages.secure(request))  # no token from before sign-in is good after it
    response.set_cookie(
        OWNER_COOKIE,
        secret,
        max_age=int(settings.staff_session_hours * 3600),
        path="/",
        httponly=True,
        samesite="lax",
        secure=pages.secure(request),
    )
    return response


@router.post("/admin/logout")
async def log_out(request: Request, services: ServicesDep) -> Response:
    secret = request.cookies.get(OWNER_COOKIE)
    if secret:
        await services.access.owner_log_out(secret=secret)
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(OWNER_COOKIE, path="/", httponly=True, samesite="lax")
    return response


# --- the organisation -------------------------------------------------------------------------------------


async def _home(
    request: Request,
    grant: Grant,
    services: ServicesDep,
    pages: Pages,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    context = {**_base(grant), "locations": await services.admin.locations(grant), "notice": notice}
    return pages.page(request, "admin_home.html", context, status_code=status)


@router.get("/admin")
async def home(request: Request, grant: Authorised, services: ServicesDep, pages: PagesDep) -> Response:
    return await _home(request, grant, services, pages)


@router.post("/admin/locations")
async def create_location(
    request: Request, grant: Authorised, services: ServicesDep, pages: PagesDep
) -> Response:
    form = await _form(request)
    slug, name = form.get("slug", "").strip().lower(), form.get("name", "").strip()
    region = form.get("default_region", "").strip().upper() or None
    if not re.match(SLUG_PATTERN, slug) or slug in RESERVED_SLUGS or not name or len(name) > 120:
        notice = "A location needs a name and an address (lower-case letters, digits and dashes)."
        return await _home(request, grant, services, pages, notice, 422)
    try:
        await services.admin.create_location(grant, slug=slug, name=name, region=region)
    except SlugTaken as error:
        return await _home(request, grant, services, pages, error.detail, 409)
    return RedirectResponse(f"/admin/locations/{slug}", status_code=303)


@router.get("/admin/audit")
async def audit(request: Request, grant: Authorised, services: ServicesDep, pages: PagesDep) -> Response:
    context = {**_base(grant), "events": await services.admin.audit(grant)}
    return pages.page(request, "admin_audit.html", context)


# --- a location's settings --------------------------------------------------------------------------------


async def _location_page(
    request: Request,
    grant: Grant,
    services: ServicesDep,
    pages: Pages,
    *,
    notice: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    assert grant.restaurant is not None
    current = await services.admin.settings(grant.restaurant.id)
    values = form or {
        "name": current.name,
        "default_region": current.default_region or "",
        "time_zone": current.time_zone,
        "default_language": current.default_language,
        "max_waiting": str(current.max_waiting or ""),
        "max_party_size": str(current.max_party_size or ""),
        "closed_dates": ", ".join(day.isoformat() for day in current.closed_dates),
        "hours_enabled": "on" if current.opening_hours is not None else "",
        **{f"hours_{day}": text for day, text in hours_text(current.opening_hours).items()},
    }
    context = {
        **_base(grant),
        "restaurant": grant.restaurant,
        "slug": grant.restaurant.slug,
        "values": values,
        "weekdays": WEEKDAYS,
        "queue_open": current.queue_open,
        "notice": notice,
    }
    return pages.page(request, "admin_location.html", context, status_code=status)


@router.get(LOCATION)
async def location(request: Request, grant: Authorised, services: ServicesDep, pages: PagesDep) -> Response:
    return await _location_page(request, grant, services, pages)


@router.post(LOCATION)
async def save_location(
    request: Request, grant: Authorised, services: ServicesDep, pages: PagesDep
) -> Response:
    assert grant.restaurant is not None
    form = await _form(request)
    wants_open = form.get("queue_open") == "on"
    try:
        new = parse_settings(form, queue_open=wants_open)
    except SettingsInvalid as error:
        return await _location_page(
            request, grant, services, pages, notice=error.detail, form=form, status=422
        )
    await services.admin.save_settings(grant, new)
    await services.queue.set_open(restaurant_id=grant.restaurant.id, queue_open=wants_open, actor=grant.actor)
    return await _location_page(request, grant, services, pages, notice="Saved.")


# --- staff ------------------------------------------------------------------------------------------------


async def _staff_page(
    request: Request, grant: Grant, services: ServicesDep, pages: Pages, *, status: int = 200, **extra: Any
) -> Response:
    assert grant.restaurant is not None
    members = await services.admin.staff(grant.restaurant.id)
    return _show(
        request, pages, "admin_staff.html", grant, status, staff=members, **{"invite_link": None, **extra}
    )


def _role(raw: str) -> Role | None:
    return next((role for role in ROLE_CHOICES if role.value == raw), None)


@router.get(f"{LOCATION}/staff")
async def staff(request: Request, grant: Authorised, services: ServicesDep, pages: PagesDep) -> Response:
    return await _staff_page(request, grant, services, pages)


@router.post(f"{LOCATION}/staff/invite")
async def invite(request: Request, grant: Authorised, services: ServicesDep, pages: PagesDep) -> Response:
    form = await _form(request)
    email, role = form.get("email", "").strip(), _role(form.get("role", ""))
    if role is None or "@" not in email or len(email) > 254 or not email.isprintable():
        return await _staff_page(
            request, grant, services, pages, notice="An email and a role, please.", status=422
        )
    secret = await services.admin.invite(grant, email=email, role=role)
    link = f"{pages.base_url(request)}/invite/{secret}"
    notice = f"Invitation for {email} ({role.value}). Send them this link; it works once, for three days."
    return await _staff_page(request, grant, services, pages, notice=notice, invite_link=link)


@router.post(f"{LOCATION}/staff/{{staff_id}}/role")
async def change_role(
    request: Request, staff_id: uuid.UUID, grant: Authorised, services: ServicesDep, pages: PagesDep
) -> Response:
    role = _role((await _form(request)).get("role", ""))
    if role is None:
        return await _staff_page(request, grant, services, pages, notice="Unknown role.", status=422)
    changed = await services.admin.set_role(grant, staff_id=staff_id, role=role)
    if changed is None:
        return await _staff_page(request, grant, services, pages, notice="No such staff member.", status=404)
    return await _staff_page(
        request, grant, services, pages, notice=f"{changed.email} is now a {role.value}."
    )


@router.post(f"{LOCATION}/staff/{{staff_id}}/revoke")
async def revoke(
    request: Request, staff_id: uuid.UUID, grant: Authorised, services: ServicesDep, pages: PagesDep
) -> Response:
    revoked = await services.admin.revoke_staff(grant, staff_id=staff_id)
    if revoked is None:
        return await _staff_page(request, grant, services, pages, notice="No such staff member.", status=404)
    notice = f"{revoked.email} is revoked and signed out everywhere."
    return await _staff_page(request, grant, services, pages, notice=notice)


# --- API tokens -------------------------------------------------------------------------------------------


async def _tokens_page(
    request: Request, grant: Grant, services: ServicesDep, pages: Pages, *, status: int = 200, **extra: Any
) -> Response:
    assert grant.restaurant is not None
    listed = await services.admin.tokens(grant.restaurant.id)
    return _show(
        request, pages, "admin_tokens.html", grant, status, tokens=listed, **{"secret": None, **extra}
    )


@router.get(f"{LOCATION}/tokens")
async def tokens(request: Request, grant: Authorised, services: ServicesDep, pages: PagesDep) -> Response:
    return await _tokens_page(request, grant, services, pages)


@router.post(f"{LOCATION}/tokens")
async def create_token(
    request: Request, grant: Authorised, services: ServicesDep, pages: PagesDep
) -> Response:
    secret = await services.admin.create_token(grant)
    notice = "A new API token. Copy it now: it is shown only this once."
    return await _tokens_page(request, grant, services, pages, notice=notice, secret=secret)


@router.post(f"{LOCATION}/tokens/{{token_id}}/revoke")
async def revoke_token(
    request: Request, token_id: uuid.UUID, grant: Authorised, services: ServicesDep, pages: PagesDep
) -> Response:
    if not await services.admin.revoke_token(grant, token_id=token_id):
        return await _tokens_page(request, grant, services, pages, notice="No such token.", status=404)
    return await _tokens_page(request, grant, services, pages, notice="The token is revoked.")


# --- accepting an invitation ------------------------------------------------------------------------------


@router.get("/invite/{secret}")
async def invitation(
    request: Request, secret: InviteSecret, services: ServicesDep, pages: PagesDep
) -> Response:
    try:
        found = await services.admin.invitation(secret)
    except InviteInvalid as error:
        return pages.error(request, status_code=410, title="This link does not work", message=error.detail)
    context = {"invitation": found, "accept_path": f"/invite/{secret}", "message": None}
    return pages.page(request, "invite.html", context)


@router.post("/invite/{secret}")
async def accept_invitation(
    request: Request, secret: InviteSecret, services: ServicesDep, pages: PagesDep
) -> Response:
    form = await _form(request)
    try:
        found = await services.admin.invitation(secret)
        member = await services.admin.accept_invite(secret, password=form.get("password", ""))
    except InviteInvalid as error:
        return pages.error(request, status_code=410, title="This link does not work", message=error.detail)
    except (PasswordUnacceptable, StaffExists) as error:
        context = {"invitation": found, "accept_path": f"/invite/{secret}", "message": error.detail}
        return pages.page(request, "invite.html", context, status_code=422)
    del member
    return RedirectResponse(f"/staff/{found.slug}/login", status_code=303)
