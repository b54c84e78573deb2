"""Cross-site request forgery protection for every form and htmx POST of the pages (not the JSON API, whose
staff routes take a bearer token that a browser never sends by itself).

Two checks, both required:

- Fetch metadata / origin: a POST that the browser marks as ``Sec-Fetch-Site: cross-site``, or whose
  ``Origin`` names another host, is refused.
- Double-submit token: the page sets a random ``wl_csrf`` cookie (HttpOnly, SameSite=Lax) and puts the same
  value in each form (``csrf_token``) or, for scripts, the ``X-CSRF-Token`` header. Another site can make a
  browser send the cookie, but cannot read it to put it in the form.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request, Response

from waitline.domain import WaitlineError

COOKIE = "wl_csrf"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRefused(WaitlineError):
    """This form has expired or did not come from this site. Please reload the page and try again."""


def token(request: Request) -> str:
    """The token for this browser's forms: its cookie's, or a new one (``set_cookie`` sets it)."""
    existing = request.cookies.get(COOKIE)
    if existing and len(existing) >= 32:
        return existing
    new: str | None = getattr(request.state, "csrf_new", None)
    if new is None:
        new = secrets.token_urlsafe(32)
        request.state.csrf_new = new
    return new


def set_cookie(request: Request, response: Response, *, secure: bool) -> None:
    new: str | None = getattr(request.state, "csrf_new", None)
    if new is not None:
        response.set_cookie(COOKIE, new, httponly=True, samesite="lax", secure=secure, path="/")


def _same_origin(request: Request, allowed_hosts: frozenset[str]) -> bool:
    if request.headers.get("sec-fetch-site") == "cross-site":
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # older browsers; the token still has to match
    host = urlsplit(origin).netloc
    return host == request.headers.get("host") or host in allowed_hosts


async def protect(request: Request) -> None:
    """A dependency for the page routers: refuses unsafe methods without a matching token."""
    if request.method in _SAFE_METHODS:
        return
    allowed_hosts: frozenset[str] = request.app.state.page_hosts
    if not _same_origin(request, allowed_hosts):
        raise CsrfRefused()
    cookie = request.cookies.get(COOKIE)
    sent = request.headers.get(HEADER)
    if sent is None:
        value = (await request.form()).get(FIELD)
        sent = value if isinstance(value, str) else None
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise CsrfRefused()
