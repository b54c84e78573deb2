"""Helpers for the tests of the pages: forms with their CSRF token, staff accounts, signing in."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from waitline.domain import Role
from waitline.services import Services
from waitline.store.engine import Database

STAFF_PASSWORD = "correct horse battery staple"

_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = _CSRF_FIELD.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


@dataclass(frozen=True)
class Staff:
    slug: str
    email: str
    password: str = STAFF_PASSWORD


async def create_staff(
    database: Database, slug: str, email: str | None = None, *, role: Role = Role.HOST
) -> Staff:
    staff = Staff(slug=slug, email=email or f"{role.value}@{slug}.test")
    await Services(database=database).accounts.create_staff(
        slug=slug, email=staff.email, password=staff.password, role=role
    )
    return staff


async def sign_in(client: httpx.AsyncClient, staff: Staff, *, password: str | None = None) -> httpx.Response:
    """Opens the sign-in page (for its form token) and signs in; returns the answer to the POST."""
    page = await client.get(f"/staff/{staff.slug}/login")
    assert page.status_code == 200
    return await client.post(
        f"/staff/{staff.slug}/login",
        data={
            "csrf_token": csrf_token(page.text),
            "email": staff.email,
            "password": staff.password if password is None else password,
        },
    )


async def form_post(
    client: httpx.AsyncClient,
    page_path: str,
    action: str,
    data: dict[str, str] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POSTs ``data`` to ``action`` with the CSRF token of ``page_path``, as that page's form would."""
    page = await client.get(page_path)
    assert page.status_code == 200, page.text
    form = {"csrf_token": csrf_token(page.text), **(data or {})}
    return await client.post(action, data=form, headers=headers)
