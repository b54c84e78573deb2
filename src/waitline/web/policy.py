"""The policy table: every route of the app -> the action it performs (domain.access.GRANTS says which roles
may). ``authorise`` is a dependency of the whole app (web/app.py), so no route escapes it: a route missing
from ``ROUTES`` is refused, and tests/test_authorisation_matrix.py fails for it.

API routes (``/api/...``) take a bearer token only; pages take the session cookies only (their forms carry
a CSRF token; the API, without cookies, needs none).
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from waitline.domain import (
    SLUG_PATTERN,
    Action,
    NotAuthenticated,
    NotPermitted,
    RestaurantNotFound,
    Role,
    permits,
)
from waitline.services import Services
from waitline.services.access import Credentials, Grant
from waitline.web import session_cookies

SESSION_COOKIE = session_cookies.STAFF
OWNER_COOKIE = session_cookies.OWNER

_STAFF = "/staff/{slug}"
_API = "/api/admin/{restaurantId}"
_ADMIN = "/admin"
_LOCATION = "/admin/locations/{slug}"

ROUTES: dict[tuple[str, str], Action] = {
    # operations, documentation, guests
    ("GET", "/openapi.json"): Action.PUBLIC,
    ("GET", "/docs"): Action.PUBLIC,
    ("GET", "/healthz"): Action.PUBLIC,
    ("GET", "/readyz"): Action.PUBLIC,
    ("GET", "/metrics"): Action.PUBLIC,  # its own bearer token (web/metrics_access.py)
    ("GET", "/api/public/{slug}"): Action.PUBLIC,
    ("POST", "/api/public/{slug}/queue"): Action.PUBLIC,
    ("GET", "/api/public/{slug}/queue/{entry_id}"): Action.PUBLIC,
    ("DELETE", "/api/public/{slug}/queue/{entry_id}"): Action.PUBLIC,
    ("GET", "/{slug}"): Action.PUBLIC,
    ("GET", "/{slug}/live"): Action.PUBLIC,
    ("POST", "/{slug}/join"): Action.PUBLIC,
    ("GET", "/{slug}/e/{entry_id}"): Action.PUBLIC,
    ("GET", "/{slug}/e/{entry_id}/live"): Action.PUBLIC,
    ("POST", "/{slug}/e/{entry_id}/leave"): Action.PUBLIC,
    ("POST", "/{slug}/e/{entry_id}/push"): Action.PUBLIC,  # web push opt-in (CSRF token in a header)
    ("GET", "/sw.js"): Action.PUBLIC,
    ("GET", "/{slug}/board"): Action.PUBLIC,
    ("GET", "/{slug}/board/live"): Action.PUBLIC,
    ("GET", "/{slug}/qr.svg"): Action.PUBLIC,
    ("POST", "/{slug}/e/{entry_id}/confirm"): Action.PUBLIC,
    # Twilio's webhooks: each request is checked against its X-Twilio-Signature instead (web/webhooks.py)
    ("POST", "/webhooks/twilio/sms"): Action.PUBLIC,
    ("POST", "/webhooks/twilio/status"): Action.PUBLIC,
    # the staff API
    ("POST", f"{_API}/queue/call-next"): Action.RUN_QUEUE,
    ("GET", f"{_API}/queue"): Action.RUN_QUEUE,
    ("POST", f"{_API}/queue/{{entry_id}}/seat"): Action.RUN_QUEUE,
    ("POST", f"{_API}/queue/{{entry_id}}/no-show"): Action.RUN_QUEUE,
    ("POST", f"{_API}/queue/{{entry_id}}/cancel"): Action.RUN_QUEUE,
    ("POST", f"{_API}/queue/pause"): Action.RUN_QUEUE,
    ("POST", f"{_API}/queue/resume"): Action.RUN_QUEUE,
    ("GET", f"{_API}/events"): Action.READ_EVENTS,
    ("GET", f"{_API}/analytics"): Action.READ_EVENTS,  # what the event log already tells its readers
    # the staff pages
    ("GET", f"{_STAFF}/login"): Action.SIGN_IN,
    ("POST", f"{_STAFF}/login"): Action.SIGN_IN,
    ("POST", f"{_STAFF}/logout"): Action.SIGN_IN,
    ("GET", _STAFF): Action.RUN_QUEUE,
    ("GET", f"{_STAFF}/live"): Action.RUN_QUEUE,
    ("POST", f"{_STAFF}/call-next"): Action.RUN_QUEUE,
    ("POST", f"{_STAFF}/entries/{{entry_id}}/{{action}}"): Action.RUN_QUEUE,
    ("POST", f"{_STAFF}/pause"): Action.RUN_QUEUE,
    ("POST", f"{_STAFF}/resume"): Action.RUN_QUEUE,
    ("GET", f"{_STAFF}/poster"): Action.RUN_QUEUE,
    ("POST", f"{_STAFF}/entries/{{entry_id}}/resend"): Action.RUN_QUEUE,
    ("GET", f"{_STAFF}/messages"): Action.EDIT_LOCATION,
    ("POST", f"{_STAFF}/messages"): Action.EDIT_LOCATION,
    ("POST", f"{_STAFF}/messages/policy"): Action.EDIT_LOCATION,
    ("GET", f"{_STAFF}/analytics"): Action.READ_ANALYTICS,
    ("GET", f"{_STAFF}/analytics/overview"): Action.READ_ANALYTICS,
    ("GET", f"{_STAFF}/analytics/entries.csv"): Action.READ_ANALYTICS,
    ("GET", f"{_STAFF}/analytics/events.csv"): Action.READ_ANALYTICS,
    # the admin pages
    ("GET", f"{_ADMIN}/login"): Action.SIGN_IN,
    ("POST", f"{_ADMIN}/login"): Action.SIGN_IN,
    ("POST", f"{_ADMIN}/logout"): Action.SIGN_IN,
    ("GET", "/invite/{secret}"): Action.SIGN_IN,
    ("POST", "/invite/{secret}"): Action.SIGN_IN,
    ("GET", _ADMIN): Action.ORGANISATION,
    ("POST", f"{_ADMIN}/locations"): Action.ORGANISATION,
    ("GET", f"{_ADMIN}/audit"): Action.ORGANISATION,
    ("GET", f"{_ADMIN}/owners"): Action.ORGANISATION,
    ("POST", f"{_ADMIN}/owners/invite"): Action.ORGANISATION,
    ("POST", f"{_ADMIN}/owners/{{owner_id}}/revoke"): Action.ORGANISATION,
    ("GET", "/owner-invite/{secret}"): Action.SIGN_IN,
    ("POST", "/owner-invite/{secret}"): Action.SIGN_IN,
    ("GET", _LOCATION): Action.EDIT_LOCATION,
    ("POST", _LOCATION): Action.EDIT_LOCATION,
    ("GET", f"{_LOCATION}/staff"): Action.MANAGE_STAFF,
    ("POST", f"{_LOCATION}/staff/invite"): Action.MANAGE_STAFF,
    ("POST", f"{_LOCATION}/staff/{{staff_id}}/role"): Action.MANAGE_STAFF,
    ("POST", f"{_LOCATION}/staff/{{staff_id}}/revoke"): Action.MANAGE_STAFF,
    ("GET", f"{_LOCATION}/tokens"): Action.MANAGE_TOKENS,
    ("POST", f"{_LOCATION}/tokens"): Action.MANAGE_TOKENS,
    ("POST", f"{_LOCATION}/tokens/{{token_id}}/revoke"): Action.MANAGE_TOKENS,
}

# Routes whose use case checks the bearer token in its own statement (one round trip, not a lookup and then
# the change): here only that there is one. The statement refuses as ``Access.authorise`` would (401: no
# such token; 403: another restaurant's); the handler hands the token on (web/dependencies.py TokenCaller).
CHECKED_IN_STATEMENT = frozenset({("POST", f"{_API}/queue/call-next")})
# What the statement checks is the token's restaurant, not a role: every token (a host) must be allowed.
assert all(
    path.startswith("/api/") and permits(Role.HOST, ROUTES[method, path])
    for method, path in CHECKED_IN_STATEMENT
)

# Event streams end quietly instead of redirecting: the dependency hands them a refused grant to answer.
_UUID = TypeAdapter(uuid.UUID)
STREAMS = frozenset({f"{_STAFF}/live"})
REFUSED = Grant(principal=None, restaurant=None, role=None)
OPEN = REFUSED  # the same emptiness: no principal, no location (for routes anyone may use)
PENDING = REFUSED  # and again: for CHECKED_IN_STATEMENT, whose grant the use case's statement decides


def credentials_of(request: Request, path: str) -> Credentials:
    if path.startswith("/api/"):
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return Credentials(bearer=token.strip() if scheme.lower() == "bearer" else None)
    return Credentials(
        staff_secret=request.cookies.get(SESSION_COOKIE), owner_secret=request.cookies.get(OWNER_COOKIE)
    )


async def check(request: Request) -> Grant:
    """The caller's grant for this request's route; raises NotAuthenticated / NotPermitted."""
    route = request.scope.get("route")
    path = str(getattr(route, "path", ""))
    # HEAD is answered by the GET route.
    method = "GET" if request.method == "HEAD" else request.method
    action = ROUTES.get((method, path))
    if action is None:
        raise NotPermitted("This route has no access policy.")
    if permits(None, action):
        return OPEN
    if (method, path) in CHECKED_IN_STATEMENT:
        _restaurant_id(request)  # a malformed id: the same 422 as on every other route
        if not credentials_of(request, path).bearer:
            raise NotAuthenticated()
        return PENDING
    services: Services = request.app.state.services
    return await services.access.authorise(
        action=action,
        credentials=credentials_of(request, path),
        slug=_slug(request),
        restaurant_id=_restaurant_id(request),
    )


def _restaurant_id(request: Request) -> uuid.UUID | None:
    raw = request.path_params.get("restaurantId")
    if raw is None:
        return None
    try:
        return _UUID.validate_python(raw)
    except ValidationError as error:
        # As the route's own validation says it (it runs after this dependency): the same 422.
        raise RequestValidationError(
            [{**detail, "loc": ("path", "restaurantId")} for detail in error.errors()]
        ) from None


def _slug(request: Request) -> str | None:
    raw = request.path_params.get("slug")
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) > 63 or not re.match(SLUG_PATTERN, raw):
        raise RestaurantNotFound()
    return raw


async def authorise(request: Request) -> Grant:
    """The app-wide dependency: every request's route is checked here before its handler runs."""
    try:
        return await check(request)
    except (NotAuthenticated, NotPermitted):
        if str(getattr(request.scope.get("route"), "path", "")) in STREAMS:
            return REFUSED
        raise


Authorised = Annotated[Grant, Depends(authorise)]
