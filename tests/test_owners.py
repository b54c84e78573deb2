"""Owners and their admin pages: ``waitline owner create``, signing in at /admin, locations and their
settings, invitations that work once and expire, roles, revocation that signs out at once, API tokens
shown once, and the audit trail that owners read. Also: what migration 0007 makes of existing staff."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from tests.conftest import make_restaurant
from tests.test_migrations import upgrade_to
from tests.web_helpers import STAFF_PASSWORD, Staff, csrf_token, form_post, sign_in
from waitline import auth
from waitline.cli import main
from waitline.config import Settings
from waitline.domain import InviteInvalid, LoginFailed, LoginThrottled, Role
from waitline.services import Services
from waitline.services.access import Grant
from waitline.store import migrations
from waitline.store.engine import Database, open_database
from waitline.web.app import create_app

pytestmark = pytest.mark.anyio

OWNER = "ann@a.test"
SESSION = timedelta(hours=1)
ATTACKER = "203.0.113.9"
OWNER_ADDRESS = "198.51.100.4"


async def owner_signed_in(client: httpx.AsyncClient, database: Database) -> uuid.UUID:
    created = await Services(database=database).access.create_owner(
        email=OWNER, password=STAFF_PASSWORD, organisation="A"
    )
    page = await client.get("/admin/login")
    signed = await client.post(
        "/admin/login", data={"csrf_token": csrf_token(page.text), "email": OWNER, "password": STAFF_PASSWORD}
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/admin"
    assert created.organisation_id is not None
    return created.organisation_id


async def create_location(client: httpx.AsyncClient, slug: str = "luigis") -> None:
    created = await form_post(
        client, "/admin", "/admin/locations", {"name": slug.title(), "slug": slug, "default_region": "GB"}
    )
    assert created.status_code == 303, created.text


def test_owner_create_takes_the_password_piped_in(database_url: str) -> None:
    env = {"WAITLINE_DATABASE_URL": database_url}
    result = CliRunner().invoke(
        main, ["owner", "create", "--email", "Ann@A.test"], input="a long enough password\n", env=env
    )
    assert result.exit_code == 0, result.output
    assert '"email": "ann@a.test"' in result.output and "password" not in result.output
    again = CliRunner().invoke(
        main, ["owner", "create", "--email", "ann@a.test"], input="another password\n", env=env
    )
    assert again.exit_code != 0 and "exists already" in again.output


async def test_an_owner_signs_in_creates_a_location_and_edits_its_hours_and_limits(
    client: httpx.AsyncClient, database: Database
) -> None:
    await owner_signed_in(client, database)
    await create_location(client)
    form = {
        "name": "Luigi's",
        "default_region": "gb",
        "time_zone": "Europe/London",
        "default_language": "es",
        "max_waiting": "30",
        "max_party_size": "8",
        "hours_enabled": "on",
        "hours_mon": "11:30-14:30, 18:00-22:00",
        "hours_sat": "10:00-24:00",
        "closed_dates": "2026-12-25, 2027-01-01",
        "queue_open": "on",
    }
    saved = await form_post(client, "/admin/locations/luigis", "/admin/locations/luigis", form)
    assert saved.status_code == 200 and "Saved." in saved.text
    settings = await Services(database=database).admin.settings(
        (await Services(database=database).restaurants.get(slug="luigis")).id
    )
    assert (settings.time_zone, settings.default_region, settings.max_waiting, settings.max_party_size) == (
        "Europe/London",
        "GB",
        30,
        8,
    )
    assert settings.opening_hours is not None and settings.opening_hours["tue"] == []
    assert [str(day) for day in settings.closed_dates] == ["2026-12-25", "2027-01-01"]
    page = await client.get("/admin/locations/luigis")
    assert 'value="11:30-14:30, 18:00-22:00"' in page.text and 'value="10:00-24:00"' in page.text

    bad = await form_post(
        client, "/admin/locations/luigis", "/admin/locations/luigis", {**form, "time_zone": "Mars/Base"}
    )
    assert bad.status_code == 422 and "IANA" in bad.text
    overlapping = {**form, "hours_mon": "11:00-15:00, 14:00-16:00"}
    assert (
        await form_post(client, "/admin/locations/luigis", "/admin/locations/luigis", overlapping)
    ).status_code == 422

    audit = await client.get("/admin/audit")
    assert "location.create" in audit.text and "location.settings" in audit.text
    assert "Europe/London" in audit.text and "UTC" in audit.text  # after and before


async def test_an_invitation_link_works_once_and_makes_a_login_with_its_role(
    client: httpx.AsyncClient, database: Database
) -> None:
    await owner_signed_in(client, database)
    await create_location(client)
    invited = await form_post(
        client,
        "/admin/locations/luigis/staff",
        "/admin/locations/luigis/staff/invite",
        {"email": "Hal@A.test", "role": "host"},
    )
    link = re.search(r'<code id="invite-link">http://waitline.test(/invite/[^<]+)</code>', invited.text)
    assert link, invited.text
    async with database.snapshot() as connection:
        stored = (await connection.execute(text("SELECT token_hash FROM staff_invite"))).scalar_one()
    secret = link.group(1).rsplit("/", 1)[1]
    assert stored == auth.token_hash(secret) and secret not in stored

    page = await client.get(link.group(1))
    assert page.status_code == 200 and "hal@a.test" in page.text
    accepted = await client.post(
        link.group(1), data={"csrf_token": csrf_token(page.text), "password": STAFF_PASSWORD}
    )
    assert accepted.status_code == 303 and accepted.headers["location"] == "/staff/luigis/login"
    assert (await client.get(link.group(1))).status_code == 410
    second = await client.post(
        link.group(1), data={"csrf_token": csrf_token(page.text), "password": "another password"}
    )
    assert second.status_code == 410

    staff = await Services(database=database).admin.staff(
        (await Services(database=database).restaurants.get(slug="luigis")).id
    )
    assert [(member.email, member.role) for member in staff] == [("hal@a.test", "host")]


async def test_an_invitation_expires(database: Database) -> None:
    services = Services(database=database)
    owner = await services.access.create_owner(email=OWNER, password=STAFF_PASSWORD, organisation="A")
    restaurant = await services.restaurants.create(
        slug="luigis", name="L", organisation_id=owner.organisation_id
    )
    grant = Grant(principal=owner, restaurant=restaurant, role=Role.OWNER)
    long_ago = datetime.now(UTC) - timedelta(days=4)
    secret = await services.admin.invite(grant, email="hal@a.test", role=Role.HOST, now=long_ago)
    with pytest.raises(InviteInvalid):
        await services.admin.invitation(secret)
    with pytest.raises(InviteInvalid):
        await services.admin.accept_invite(secret, password=STAFF_PASSWORD)


async def test_a_revoked_host_is_signed_out_at_their_next_request(
    client: httpx.AsyncClient, database: Database
) -> None:
    services = Services(database=database)
    await owner_signed_in(client, database)
    await create_location(client)
    member = await services.accounts.create_staff(slug="luigis", email="hal@a.test", password=STAFF_PASSWORD)
    transport = httpx.ASGITransport(app=client._transport.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://waitline.test") as host:
        await sign_in(host, Staff(slug="luigis", email="hal@a.test"))
        dashboard = await host.get("/staff/luigis")
        assert dashboard.status_code == 200 and "Settings and staff" not in dashboard.text
        assert (await host.get("/admin/locations/luigis")).status_code == 403  # a host: no settings
        assert "Settings and staff" in (await client.get("/staff/luigis")).text  # the owner's dashboard

        revoked = await form_post(
            client, "/admin/locations/luigis/staff", f"/admin/locations/luigis/staff/{member.id}/revoke"
        )
        assert revoked.status_code == 200 and "revoked" in revoked.text

        after = await host.get("/staff/luigis")
        assert after.status_code == 303 and after.headers["location"] == "/staff/luigis/login"
        assert (await sign_in(host, Staff(slug="luigis", email="hal@a.test"))).status_code == 401
    assert "staff.revoke" in (await client.get("/admin/audit")).text


async def test_a_manager_changes_roles_and_an_api_token_is_shown_once_and_revoked(
    client: httpx.AsyncClient, database: Database
) -> None:
    services = Services(database=database)
    await owner_signed_in(client, database)
    await create_location(client)
    member = await services.accounts.create_staff(slug="luigis", email="hal@a.test", password=STAFF_PASSWORD)
    changed = await form_post(
        client,
        "/admin/locations/luigis/staff",
        f"/admin/locations/luigis/staff/{member.id}/role",
        {"role": "manager"},
    )
    assert "is now a manager" in changed.text
    owner_role = await form_post(
        client,
        "/admin/locations/luigis/staff",
        f"/admin/locations/luigis/staff/{member.id}/role",
        {"role": "owner"},
    )
    assert owner_role.status_code == 422

    created = await form_post(client, "/admin/locations/luigis/tokens", "/admin/locations/luigis/tokens")
    secret = re.search(r'<code id="new-token">([^<]+)</code>', created.text)
    assert secret
    restaurant = await services.restaurants.get(slug="luigis")
    api = f"/api/admin/{restaurant.id}/queue"
    bearer = {"Authorization": f"Bearer {secret.group(1)}"}
    assert (await client.get(api, headers=bearer)).status_code == 200
    listing = await client.get("/admin/locations/luigis/tokens")
    assert secret.group(1) not in listing.text  # shown once
    (token_id,) = re.findall(r"/tokens/([0-9a-f-]{36})/revoke", listing.text)
    await form_post(
        client, "/admin/locations/luigis/tokens", f"/admin/locations/luigis/tokens/{token_id}/revoke"
    )
    assert (await client.get(api, headers=bearer)).status_code == 401
    audit = (await client.get("/admin/audit")).text
    assert "staff.role" in audit and "token.create" in audit and "token.revoke" in audit


async def test_staff_from_before_owners_become_hosts_of_a_restaurant_with_its_own_organisation(
    empty_database_url: str,
) -> None:
    database = open_database(Settings(database_url=empty_database_url))
    try:
        await upgrade_to(database, "0005")
        ids = [str(uuid.uuid4()) for _ in range(2)]
        async with database.transaction() as connection:
            for restaurant_id, slug in zip(ids, ("luigis", "marios"), strict=True):
                await connection.execute(
                    text("INSERT INTO restaurant (id, slug, name) VALUES (:id, :slug, :slug)"),
                    {"id": restaurant_id, "slug": slug},
                )
                await connection.execute(
                    text(
                        "INSERT INTO staff_user (id, restaurant_id, email, password_hash)"
                        " VALUES (:id, :restaurant_id, 'hal@a.test', 'x')"
                    ),
                    {"id": str(uuid.uuid4()), "restaurant_id": restaurant_id},
                )
        await migrations.upgrade(database.engine)
        async with database.snapshot() as connection:
            roles = (await connection.execute(text("SELECT role FROM staff_user"))).scalars().all()
            organisations = (
                (await connection.execute(text("SELECT DISTINCT organisation_id FROM restaurant")))
                .scalars()
                .all()
            )
            zones = (
                (await connection.execute(text("SELECT DISTINCT time_zone FROM restaurant"))).scalars().all()
            )
        assert roles == ["host", "host"]
        assert len(organisations) == 2 and None not in organisations
        assert zones == ["UTC"]
    finally:
        await database.dispose()


async def test_a_restaurant_made_from_the_command_line_has_an_organisation(database: Database) -> None:
    made = await make_restaurant(database)
    assert made.restaurant.organisation_id is not None


async def test_two_clicks_on_one_invitation_at_once_make_one_login(database: Database) -> None:
    services = Services(database=database)
    owner = await services.access.create_owner(email=OWNER, password=STAFF_PASSWORD, organisation="A")
    restaurant = await services.restaurants.create(
        slug="luigis", name="L", organisation_id=owner.organisation_id
    )
    grant = Grant(principal=owner, restaurant=restaurant, role=Role.OWNER)
    secret = await services.admin.invite(grant, email="hal@a.test", role=Role.MANAGER)

    results = await asyncio.gather(
        *(services.admin.accept_invite(secret, password=f"{STAFF_PASSWORD} {i}") for i in range(4)),
        return_exceptions=True,
    )

    accepted = [result for result in results if not isinstance(result, BaseException)]
    assert len(accepted) == 1, results
    assert all(isinstance(result, InviteInvalid) for result in results if result not in accepted)
    assert [(member.email, member.role) for member in await services.admin.staff(restaurant.id)] == [
        ("hal@a.test", "manager")
    ]


async def test_an_owner_guessers_address_is_locked_out_yet_the_owner_signs_in_from_another(
    database: Database,
) -> None:
    """Owner sign-in is throttled per (email, address), as staff sign-in is (test_sign_in_throttle.py): the
    old limit of ten an hour per email let anyone keep an owner out."""
    services = Services(database=database)
    await services.access.create_owner(email=OWNER, password=STAFF_PASSWORD, organisation="A")
    now = datetime.now(UTC)

    async def attempt(password: str, client: str, seconds: int) -> str:
        try:
            await services.access.owner_log_in(
                email=OWNER.upper() if seconds % 2 else OWNER,  # one account, however it is typed
                password=password,
                client=client,
                session_lifetime=SESSION,
                now=now + timedelta(seconds=seconds),
            )
        except LoginFailed:
            return "failed"
        except LoginThrottled:
            return "throttled"
        return "signed in"

    stranger = [await attempt("wrong password", ATTACKER, n) for n in range(12)]
    owner = await attempt(STAFF_PASSWORD, OWNER_ADDRESS, 13)
    stranger_with_the_password = await attempt(STAFF_PASSWORD, ATTACKER, 14)

    assert stranger == ["failed"] * 5 + ["throttled"] * 7
    assert owner == "signed in"
    assert stranger_with_the_password == "throttled"  # locked out is locked out, right password or not
    # Much later the stranger's lockout has run out (15 minutes at most).
    assert await attempt(STAFF_PASSWORD, ATTACKER, 16 * 60) == "signed in"


async def test_the_admin_login_page_counts_each_address_on_its_own(
    settings: Settings, database: Database
) -> None:
    services = Services(database=database)
    await services.access.create_owner(email=OWNER, password=STAFF_PASSWORD, organisation="A")
    app = create_app(settings)

    async def attempt(ip: str, password: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(ip, 50123))
        async with httpx.AsyncClient(transport=transport, base_url="http://waitline.test") as client:
            page = await client.get("/admin/login")
            return await client.post(
                "/admin/login",
                data={"email": OWNER, "password": password, "csrf_token": csrf_token(page.text)},
            )

    async with app.router.lifespan_context(app):
        stranger = [await attempt(ATTACKER, "not the password") for _ in range(6)]
        owner = await attempt(OWNER_ADDRESS, STAFF_PASSWORD)

    assert [response.status_code for response in stranger] == [401] * 5 + [429]
    assert int(stranger[-1].headers["retry-after"]) > 0
    assert owner.status_code == 303 and owner.headers["location"] == "/admin"
