"""Authorization, route by route and role by role: every route the app serves is called as every kind of
caller (anonymous, a host, a manager and the owner of the location, a manager of another location of the
same organisation, the owner of another organisation, the location's API token, another location's token),
and each answer is checked against the table below, written here independently of web/policy.py.

A route that nobody has thought about fails this test: it must be added to ``EXPECTED`` (and to the policy
table in web/policy.py, or the app refuses it).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from waitline.domain import Role
from waitline.services import Services
from waitline.store.engine import Database
from waitline.web import csrf, policy

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery staple"
SESSION = timedelta(hours=1)
CSRF = "c" * 43

# Who may call each route, as this test expects it: "anyone"; "queue" (the location's host, manager or
# owner; on the API, the location's token only); "settings" (its manager or owner); "organisation" (an
# owner, of their own organisation); "sign-in" (signing in and out, invitations: they answer every caller
# alike, a wrong password with 401); "own-check" (guarded by something else: the same for everyone).
S, A, L = "/staff/{slug}", "/api/admin/{restaurantId}", "/admin/locations/{slug}"
EXPECTED: dict[tuple[str, str], str] = {
    ("GET", "/openapi.json"): "anyone",
    ("GET", "/docs"): "anyone",
    ("GET", "/healthz"): "anyone",
    ("GET", "/readyz"): "anyone",
    ("GET", "/metrics"): "own-check",
    ("GET", "/api/public/{slug}"): "anyone",
    ("POST", "/api/public/{slug}/queue"): "anyone",
    ("GET", "/api/public/{slug}/queue/{entry_id}"): "anyone",
    ("DELETE", "/api/public/{slug}/queue/{entry_id}"): "anyone",
    ("GET", "/{slug}"): "anyone",
    ("GET", "/{slug}/live"): "anyone",
    ("POST", "/{slug}/join"): "anyone",
    ("GET", "/{slug}/e/{entry_id}"): "anyone",
    ("GET", "/{slug}/e/{entry_id}/live"): "anyone",
    ("POST", "/{slug}/e/{entry_id}/leave"): "anyone",
    ("POST", "/{slug}/e/{entry_id}/push"): "anyone",
    ("GET", "/sw.js"): "anyone",
    ("GET", "/{slug}/board"): "anyone",
    ("GET", "/{slug}/board/live"): "anyone",
    ("GET", "/{slug}/qr.svg"): "anyone",
    ("POST", "/{slug}/e/{entry_id}/confirm"): "anyone",
    ("POST", "/webhooks/twilio/sms"): "own-check",
    ("POST", "/webhooks/twilio/status"): "own-check",
    ("POST", f"{A}/queue/call-next"): "queue",
    ("GET", f"{A}/queue"): "queue",
    ("POST", f"{A}/queue/{{entry_id}}/seat"): "queue",
    ("POST", f"{A}/queue/{{entry_id}}/no-show"): "queue",
    ("POST", f"{A}/queue/{{entry_id}}/cancel"): "queue",
    ("POST", f"{A}/queue/pause"): "queue",
    ("POST", f"{A}/queue/resume"): "queue",
    ("GET", f"{A}/events"): "queue",
    ("GET", f"{A}/analytics"): "queue",
    ("GET", f"{S}/login"): "sign-in",
    ("POST", f"{S}/login"): "sign-in",
    ("POST", f"{S}/logout"): "sign-in",
    ("GET", S): "queue",
    ("GET", f"{S}/live"): "queue",
    ("POST", f"{S}/call-next"): "queue",
    ("POST", f"{S}/entries/{{entry_id}}/{{action}}"): "queue",
    ("POST", f"{S}/pause"): "queue",
    ("POST", f"{S}/resume"): "queue",
    ("GET", f"{S}/poster"): "queue",
    ("POST", f"{S}/entries/{{entry_id}}/resend"): "queue",
    ("GET", f"{S}/messages"): "settings",
    ("POST", f"{S}/messages"): "settings",
    ("POST", f"{S}/messages/policy"): "settings",
    ("GET", f"{S}/analytics"): "settings",
    ("GET", f"{S}/analytics/overview"): "settings",
    ("GET", f"{S}/analytics/entries.csv"): "settings",
    ("GET", f"{S}/analytics/events.csv"): "settings",
    ("GET", "/admin/login"): "sign-in",
    ("POST", "/admin/login"): "sign-in",
    ("POST", "/admin/logout"): "sign-in",
    ("GET", "/invite/{secret}"): "sign-in",
    ("POST", "/invite/{secret}"): "sign-in",
    ("GET", "/admin"): "organisation",
    ("POST", "/admin/locations"): "organisation",
    ("GET", "/admin/audit"): "organisation",
    ("GET", "/admin/owners"): "organisation",
    ("POST", "/admin/owners/invite"): "organisation",
    ("POST", "/admin/owners/{owner_id}/revoke"): "organisation",
    ("GET", "/owner-invite/{secret}"): "sign-in",
    ("POST", "/owner-invite/{secret}"): "sign-in",
    ("GET", L): "settings",
    ("POST", L): "settings",
    ("GET", f"{L}/staff"): "settings",
    ("POST", f"{L}/staff/invite"): "settings",
    ("POST", f"{L}/staff/{{staff_id}}/role"): "settings",
    ("POST", f"{L}/staff/{{staff_id}}/revoke"): "settings",
    ("GET", f"{L}/tokens"): "settings",
    ("POST", f"{L}/tokens"): "settings",
    ("POST", f"{L}/tokens/{{token_id}}/revoke"): "settings",
}

# Which callers each level lets in (at location "luigis" of organisation A).
PAGE_ALLOWED = {
    "queue": {"host", "manager", "owner"},
    "settings": {"manager", "owner"},
    "organisation": {"owner", "other owner"},
}
CALLERS = ["anonymous", "host", "manager", "owner", "other manager", "other owner", "token", "other token"]


def app_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app answers, as its router sees them (HEAD rides on GET)."""
    found = []
    for context in iter_route_contexts(app.routes):
        methods = getattr(context.original_route, "methods", None)
        if not methods or context.path is None:
            continue  # the /static mount: files, no one's data
        found.extend((method, context.path) for method in sorted(methods) if method != "HEAD")
    return found


def expected_allowed(level: str, path: str, caller: str) -> bool:
    if level == "anyone":
        return True
    if path.startswith("/api/"):
        return caller == "token"
    return caller in PAGE_ALLOWED[level]


@dataclass
class Caller:
    cookies: dict[str, str] = field(default_factory=dict)
    bearer: str | None = None


async def asgi_call(
    app: FastAPI, method: str, path: str, caller: Caller, body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One request straight into the app, with the client gone as soon as the body is read, so that an
    event stream answers its first part and ends (httpx's ASGI transport would wait for it forever)."""
    cookies = {**caller.cookies, "wl_csrf": CSRF}
    token = csrf.token_for(await csrf.key(app), cookies) or ""  # what the page would have given
    headers = [
        (b"host", b"waitline.test"),
        (b"cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()),
        (b"x-csrf-token", token.encode()),
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", str(len(body)).encode()),
    ]
    if caller.bearer:
        headers.append((b"authorization", f"Bearer {caller.bearer}".encode()))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("waitline.test", 80),
    }
    sent_body = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    status, response_headers, chunks = 0, {}, []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, response_headers
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, response_headers, b"".join(chunks)


def refused(status: int, headers: dict[str, str], body: bytes, path: str) -> bool:
    if status in (401, 403):
        return True
    if status == 303 and headers.get("location", "").endswith("/login") and not path.endswith("/login"):
        return True
    # A staff event stream ends at once for a caller it refuses (its first and only event).
    return path.endswith("/live") and path.startswith("/staff/") and b"event: ended" in body


async def make_callers(database: Database) -> tuple[dict[str, Caller], dict[str, str]]:
    services = Services(database=database)
    owner_a = await services.access.create_owner(email="ann@a.test", password=PASSWORD, organisation="A")
    owner_b = await services.access.create_owner(email="bob@b.test", password=PASSWORD, organisation="B")
    luigis = await services.restaurants.create(
        slug="luigis", name="Luigis", organisation_id=owner_a.organisation_id
    )
    await services.restaurants.create(slug="marios", name="Marios", organisation_id=owner_a.organisation_id)
    await services.restaurants.create(slug="bobs", name="Bobs", organisation_id=owner_b.organisation_id)
    for slug, email, role in [
        ("luigis", "host@a.test", Role.HOST),
        ("luigis", "manager@a.test", Role.MANAGER),
        ("marios", "manager2@a.test", Role.MANAGER),
    ]:
        await services.accounts.create_staff(slug=slug, email=email, password=PASSWORD, role=role)

    async def staff(slug: str, email: str) -> Caller:
        secret = await services.accounts.log_in(
            slug=slug, email=email, password=PASSWORD, session_lifetime=SESSION, client="127.0.0.1"
        )
        return Caller(cookies={policy.SESSION_COOKIE: secret})

    async def owner(email: str) -> Caller:
        secret = await services.access.owner_log_in(
            email=email, password=PASSWORD, client="192.0.2.1", session_lifetime=SESSION
        )
        return Caller(cookies={policy.OWNER_COOKIE: secret})

    callers = {
        "anonymous": Caller(),
        "host": await staff("luigis", "host@a.test"),
        "manager": await staff("luigis", "manager@a.test"),
        "owner": await owner("ann@a.test"),
        "other manager": await staff("marios", "manager2@a.test"),
        "other owner": await owner("bob@b.test"),
        "token": Caller(bearer=await services.accounts.create_api_token(slug="luigis")),
        "other token": Caller(bearer=await services.accounts.create_api_token(slug="marios")),
    }
    params = {
        "slug": "luigis",
        "restaurantId": str(luigis.id),
        "entry_id": str(uuid.uuid4()),
        "staff_id": str(uuid.uuid4()),
        "token_id": str(uuid.uuid4()),
        "owner_id": str(uuid.uuid4()),
        "action": "seat",
        "secret": "x" * 43,
    }
    return callers, params


async def test_every_route_has_a_policy_and_an_expectation(app: FastAPI) -> None:
    routes = set(app_routes(app))
    assert routes - set(policy.ROUTES) == set(), "routes without a policy in web/policy.py"
    assert routes - set(EXPECTED) == set(), "routes without an expectation in this test"
    assert set(policy.ROUTES) - routes == set(), "policies for routes that do not exist"


async def test_every_route_answers_every_caller_as_the_table_says(app: FastAPI, database: Database) -> None:
    callers, params = await make_callers(database)
    # Signing out ends the caller's session: last.
    routes = sorted(app_routes(app), key=lambda route: route[1].endswith("/logout"))
    wrong = []
    alike: dict[tuple[str, str], set[int]] = {}
    for name in CALLERS:
        for method, template in routes:
            level = EXPECTED[(method, template)]
            path = template.format(**params)
            status, headers, body = await asgi_call(app, method, path, callers[name])
            assert status < 500, (name, method, path, status, body[:300])
            if level in ("own-check", "sign-in"):
                alike.setdefault((method, template), set()).add(status)
                continue
            allowed = expected_allowed(level, template, name)
            if refused(status, headers, body, path) == allowed:
                wrong.append((name, method, template, status))
    assert wrong == [], json.dumps(wrong, indent=1)
    assert {route: statuses for route, statuses in alike.items() if len(statuses) > 1} == {}


async def test_an_owner_sees_nothing_of_another_organisation(app: FastAPI, database: Database) -> None:
    callers, _ = await make_callers(database)
    status, _, body = await asgi_call(app, "GET", "/admin", callers["other owner"])
    assert status == 200
    assert b"Bobs" in body
    assert b"Luigis" not in body and b"Marios" not in body
    status, _, body = await asgi_call(app, "GET", "/admin", callers["owner"])
    assert b"Luigis" in body and b"Marios" in body and b"Bobs" not in body
