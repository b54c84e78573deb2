"""A second owner: an owner invites another with a one-time link; either may remove the other, never the
last one (409 ``last-owner``), even when two remove each other at once. On both databases."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from sqlalchemy import text

from tests.test_owners import OWNER, SESSION, owner_signed_in
from tests.web_helpers import STAFF_PASSWORD, csrf_token, form_post
from waitline.domain import Action, InviteInvalid, LastOwner, NotAuthenticated, Role
from waitline.services import Services
from waitline.services.access import Credentials, Grant
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio

SECOND = "bob@a.test"
SECOND_PASSWORD = "another long password"


async def test_an_owner_invites_a_second_owner_who_signs_in_to_the_same_organisation(
    client: httpx.AsyncClient, database: Database
) -> None:
    organisation_id = await owner_signed_in(client, database)
    invited = await form_post(client, "/admin/owners", "/admin/owners/invite", {"email": SECOND})
    assert invited.status_code == 200
    link = re.search(r'<code id="invite-link">[^<]*(/owner-invite/[\w-]+)</code>', invited.text)
    assert link is not None
    page = await client.get(link.group(1))
    assert page.status_code == 200 and SECOND in page.text
    accepted = await client.post(
        link.group(1), data={"csrf_token": csrf_token(page.text), "password": SECOND_PASSWORD}
    )
    assert accepted.status_code == 303 and accepted.headers["location"] == "/admin/login"
    again = await client.post(
        link.group(1), data={"csrf_token": csrf_token(page.text), "password": SECOND_PASSWORD}
    )
    assert again.status_code == 410  # the link works once

    services = Services(database=database)
    secret = await services.access.owner_log_in(
        email=SECOND, password=SECOND_PASSWORD, client="192.0.2.7", session_lifetime=SESSION
    )
    grant = await services.access.authorise(
        action=Action.ORGANISATION,
        credentials=Credentials(owner_secret=secret),
    )
    assert grant.principal is not None and grant.principal.organisation_id == organisation_id
    owners = [email for _, email in await services.ownership.owners(grant)]
    assert owners == [OWNER, SECOND]
    audit = [event["action"] for event in await services.admin.audit(grant)]
    assert "owner.invite" in audit and "owner.accept" in audit


async def two_owners(database: Database) -> tuple[Services, Grant, Grant]:
    services = Services(database=database)
    first = await services.access.create_owner(email=OWNER, password=STAFF_PASSWORD, organisation="A")
    first_grant = Grant(principal=first, restaurant=None, role=Role.OWNER)
    secret = await services.ownership.invite(first_grant, email=SECOND)
    second = await services.ownership.accept(secret, password=SECOND_PASSWORD)
    return services, first_grant, Grant(principal=second, restaurant=None, role=Role.OWNER)


async def test_the_last_owner_cannot_be_removed_and_a_removed_owner_is_signed_out(database: Database) -> None:
    services, first, second = await two_owners(database)
    assert first.principal is not None and second.principal is not None
    session = await services.access.owner_log_in(
        email=SECOND, password=SECOND_PASSWORD, client="192.0.2.7", session_lifetime=SESSION
    )

    assert await services.ownership.revoke(first, owner_id=second.principal.id) == SECOND
    with pytest.raises(NotAuthenticated):  # their session ended with them
        await services.access.authorise(
            action=Action.ORGANISATION,
            credentials=Credentials(owner_secret=session),
        )
    with pytest.raises(LastOwner):
        await services.ownership.revoke(first, owner_id=first.principal.id)
    assert [email for _, email in await services.ownership.owners(first)] == [OWNER]
    with pytest.raises(InviteInvalid):
        await services.ownership.accept("x" * 43, password=SECOND_PASSWORD)


async def test_two_owners_removing_each_other_at_once_leave_one(database: Database) -> None:
    """Both removals are held up, once each has read the owners, on the owners' rows (PostgreSQL: a
    transaction of this test locks them; SQLite: it holds the write lock), then let go together. The
    organisation's row lock makes the second one read again and find itself the last; without it, each
    would remove the other (broken on purpose: both succeeded, no owner left)."""
    services, first, second = await two_owners(database)
    assert first.principal is not None and second.principal is not None
    organisation = {"organisation_id": str(first.principal.organisation_id)}

    async with database.transaction() as hold:
        if hold.dialect.name == "postgresql":
            held = "SELECT id FROM organisation_owner WHERE organisation_id = :organisation_id FOR UPDATE"
        else:
            held = "UPDATE organisation SET name = name WHERE id = :organisation_id"
        await hold.execute(text(held), organisation)
        removals = [
            asyncio.create_task(services.ownership.revoke(first, owner_id=second.principal.id)),
            asyncio.create_task(services.ownership.revoke(second, owner_id=first.principal.id)),
        ]
        await asyncio.sleep(0.5)  # both reach the held rows (not a timing assertion: only a chance to race)
    results = await asyncio.gather(*removals, return_exceptions=True)

    assert sorted(type(result).__name__ for result in results) == ["LastOwner", "str"], results
    assert len(await services.ownership.owners(first)) == 1


async def test_removing_the_last_owner_answers_409_last_owner(
    client: httpx.AsyncClient, database: Database
) -> None:
    await owner_signed_in(client, database)
    page = await client.get("/admin/owners")
    owner_id = re.search(r'action="/admin/owners/([0-9a-f-]{36})/revoke"', page.text)
    assert owner_id is not None
    path = f"/admin/owners/{owner_id.group(1)}/revoke"
    as_json = await client.post(
        path, data={"csrf_token": csrf_token(page.text)}, headers={"accept": "application/json"}
    )
    assert as_json.status_code == 409
    assert as_json.headers["content-type"].startswith("application/problem+json")
    assert as_json.json()["type"].endswith("last-owner")
    as_page = await client.post(path, data={"csrf_token": csrf_token(page.text)})
    assert as_page.status_code == 409 and "at least one owner" in as_page.text
    assert OWNER in (await client.get("/admin/owners")).text
