"""Cross-site request forgery protection for every form and htmx POST of the pages (not the JSON API, whose
staff routes take a bearer token that a browser never sends by itself).

Two checks, both required:

- Fetch metadata / origin: a POST that the browser marks as ``Sec-Fetch-Site: cross-site``, or whose
  ``Origin`` names another host, is refused.
- A token bound to the browser's session: HMAC-SHA256 under a server secret (``server_secret`` "csrf",
  shared by every instance through the database) of the staff (else the owner) session cookie when there is
  one, else of a random pre-session id in the ``wl_csrf`` cookie (HttpOnly, SameSite=Lax). Each form carries
  it (``csrf_token``) or, for scripts, the ``X-CSRF-Token`` header. Another site can make a browser send the
  cookies but cannot read them, and without the server's secret no one can make a token for a value they
  plant as a cookie: a planted cookie and field pair is refused. Signing in changes the binding (to the new
  session) and renews the pre-session id, so a token from before sign-in is void after it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request, Response

from waitline.domain import WaitlineError
from waitline.web import session_cookies

COOKIE = "wl_csrf"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
_SECRET_NAME = "csrf"  # noqa: S105 (the name of the secret, not the secret)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRefused(WaitlineError):
    """This form has expired or did not come from this site. Please reload the page and try again."""


def _binding(cookies: Mapping[str, str]) -> str | None:
    """What a browser's tokens are bound to: its staff session, else its owner session, else its
    pre-session id."""
    for kind, cookie in (("session", session_cookies.STAFF), ("owner", session_cookies.OWNER)):
        session = cookies.get(cookie)
        if session:
            return f"{kind}:" + hashlib.sha256(session.encode()).hexdigest()
    pre_session = cookies.get(COOKIE)
    if pre_session and len(pre_session) >= 32:
        return "browser:" + pre_session
    return None


def _mac(key: bytes, binding: str) -> str:
    digest = hmac.new(key, binding.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token(request: Request) -> str:
    """The token for this browser's forms; a browser with neither cookie gets a new pre-session id
    (``set_cookie`` sets it). Empty before the key is known (``protect`` loads it; a page always runs it)."""
    secret: bytes | None = getattr(request.app.state, "csrf_key", None)
    if secret is None:
        return ""
    binding = _binding(request.cookies)
    if binding is None:
        new: str | None = getattr(request.state, "csrf_new", None)
        if new is None:
            new = request.state.csrf_new = secrets.token_urlsafe(32)
        binding = "browser:" + new
    return _mac(secret, binding)


def set_cookie(request: Request, response: Response, *, secure: bool) -> None:
    new: str | None = getattr(request.state, "csrf_new", None)
    if new is not None:
        response.set_cookie(COOKIE, new, httponly=True, samesite="lax", secure=secure, path="/")


def renew(response: Response, *, secure: bool) -> None:
    """At sign-in: a new pre-session id, so that no token known before it is good after it."""
    response.set_cookie(
        COOKIE, secrets.token_urlsafe(32), httponly=True, samesite="lax", secure=secure, path="/"
    )


def _same_origin(request: Request, allowed_hosts: frozenset[str]) -> bool:
    if request.headers.get("sec-fetch-site") == "cross-site":
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # older browsers; the token still has to match
    host = urlsplit(origin).netloc
    return host == request.headers.get("host") or host in allowed_hosts


async def key(app: Any) -> bytes:
    """The tokens' key: the server secret every instance shares, read once per app."""
    known: bytes | None = getattr(app.state, "csrf_key", None)
    if known is None:
        known = app.state.csrf_key = await app.state.services.accounts.server_secret(name=_SECRET_NAME)
    return known


def token_for(key: bytes, cookies: Mapping[str, str]) -> str | None:
    """The token a browser holding ``cookies`` must send; None while it has nothing to bind it to."""
    binding = _binding(cookies)
    return None if binding is None else _mac(key, binding)


async def protect(request: Request) -> None:
    """A dependency for the page routers: knows the key (for the pages' tokens), and refuses unsafe methods
    without a token bound to this browser's session."""
    secret = await key(request.app)
    if request.method in _SAFE_METHODS:
        return
    allowed_hosts: frozenset[str] = request.app.state.page_hosts
    if not _same_origin(request, allowed_hosts):
        raise CsrfRefused()
    sent = request.headers.get(HEADER)
    if sent is None:
        value = (await request.form()).get(FIELD)
        sent = value if isinstance(value, str) else None
    expected = token_for(secret, request.cookies)
    if not expected or not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfRefused()
