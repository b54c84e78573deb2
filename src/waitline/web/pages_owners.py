"""The owners of an organisation under /admin/owners: an owner invites another owner with a one-time link
(accepted at /owner-invite/<secret>) and removes one, as long as one remains: removing the last answers
409 (``last-owner``; problem+json to a client that asks for JSON)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from waitline.domain import InviteInvalid, LastOwner, OwnerExists, PasswordUnacceptable
from waitline.services.access import Grant
from waitline.web import csrf
from waitline.web.dependencies import ServicesDep
from waitline.web.pages_admin import InviteSecret, _base, _form
from waitline.web.policy import Authorised
from waitline.web.rendering import PageRoute, Pages, PagesDep, wants_json

router = APIRouter(route_class=PageRoute, dependencies=[Depends(csrf.protect)], include_in_schema=False)


async def _owners_page(
    request: Request, grant: Grant, services: ServicesDep, pages: Pages, *, status: int = 200, **extra: Any
) -> Response:
    context = {**_base(grant), "owners": await services.ownership.owners(grant), "invite_link": None, **extra}
    return pages.page(request, "admin_owners.html", context, status_code=status)


@router.get("/admin/owners")
async def owners(request: Request, grant: Authorised, services: ServicesDep, pages: PagesDep) -> Response:
    return await _owners_page(request, grant, services, pages)


@router.post("/admin/owners/invite")
async def invite(request: Request, grant: Authorised, services: ServicesDep, pages: PagesDep) -> Response:
    email = (await _form(request)).get("email", "").strip()
    if "@" not in email or len(email) > 254 or not email.isprintable():
        return await _owners_page(request, grant, services, pages, notice="An email, please.", status=422)
    secret = await services.ownership.invite(grant, email=email)
    link = f"{pages.base_url(request)}/owner-invite/{secret}"
    notice = f"Invitation for {email} (owner). Send them this link; it works once, for three days."
    return await _owners_page(request, grant, services, pages, notice=notice, invite_link=link)


@router.post("/admin/owners/{owner_id}/revoke")
async def revoke(
    request: Request, owner_id: uuid.UUID, grant: Authorised, services: ServicesDep, pages: PagesDep
) -> Response:
    try:
        email = await services.ownership.revoke(grant, owner_id=owner_id)
    except LastOwner as error:
        if wants_json(request):
            raise
        return await _owners_page(request, grant, services, pages, notice=error.detail, status=409)
    if email is None:
        return await _owners_page(request, grant, services, pages, notice="No such owner.", status=404)
    return await _owners_page(request, grant, services, pages, notice=f"{email} is no longer an owner.")


@router.get("/owner-invite/{secret}")
async def invitation(
    request: Request, secret: InviteSecret, services: ServicesDep, pages: PagesDep
) -> Response:
    try:
        found = await services.ownership.invitation(secret)
    except InviteInvalid as error:
        return pages.error(request, status_code=410, title="This link does not work", message=error.detail)
    context = {"invitation": found, "accept_path": f"/owner-invite/{secret}", "message": None}
    return pages.page(request, "invite.html", context)


@router.post("/owner-invite/{secret}")
async def accept_invitation(
    request: Request, secret: InviteSecret, services: ServicesDep, pages: PagesDep
) -> Response:
    form = await _form(request)
    try:
        found = await services.ownership.invitation(secret)
        await services.ownership.accept(secret, password=form.get("password", ""))
    except InviteInvalid as error:
        return pages.error(request, status_code=410, title="This link does not work", message=error.detail)
    except (PasswordUnacceptable, OwnerExists) as error:
        context = {"invitation": found, "accept_path": f"/owner-invite/{secret}", "message": error.detail}
        return pages.page(request, "invite.html", context, status_code=422)
    return RedirectResponse("/admin/login", status_code=303)
