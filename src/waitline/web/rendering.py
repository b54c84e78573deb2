"""Server-rendered HTML: the Jinja environment, page responses with their security headers, and the route
class that turns the errors a page can meet into pages (the JSON API keeps problem+json).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.types import Scope

from waitline.config import Settings
from waitline.domain import (
    EntryNotFound,
    NotAuthenticated,
    NotPermitted,
    RestaurantNotFound,
    ServiceUnavailable,
    WaitlineError,
)
from waitline.language import ENGLISH, N_
from waitline.web import csrf, languages
from waitline.web.problems import RETRY_AFTER_SECONDS

WEB_DIRECTORY = Path(__file__).resolve().parent
STATIC_DIRECTORY = WEB_DIRECTORY / "static"
TEMPLATE_DIRECTORY = WEB_DIRECTORY / "templates"

_log = logging.getLogger("waitline.web")

# Scripts and styles come from /static only (no inline script, no eval); nothing may frame the pages.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages show personal data (names) and change all the time.
    "Cache-Control": "no-store",
}


def duration(start: datetime | None, end: datetime) -> str:
    """``end - start`` for people: "under a minute", "4 min", "1 h 05 min"."""
    if start is None:
        return ""
    minutes = max(0, int((end - start).total_seconds() // 60))
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def ago(start: datetime | None, now: datetime) -> str:
    """ "just now", "4 min ago"."""
    spent = duration(start, now)
    return spent if spent in ("", "just now") else f"{spent} ago"


class Pages:
    """What rendering needs; one per app, built in ``create_app``."""

    def __init__(self, settings: Settings) -> None:
        self.secure_cookies = settings.secure_cookies
        self.public_https = (settings.public_url or "").startswith("https://")
        self.public_url = settings.public_url.rstrip("/") if settings.public_url else None
        self.environment = Environment(
            loader=FileSystemLoader(TEMPLATE_DIRECTORY),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.i18n"],
        )
        languages.install(self.environment)
        # Versioned URLs, so that browsers may keep static files while they do not change.
        versions = {
            path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            for path in STATIC_DIRECTORY.iterdir()
            if path.is_file()
        }
        self.environment.globals["static"] = lambda name: f"/static/{name}?v={versions[name]}"
        self.environment.globals["duration"] = duration
        self.environment.globals["ago"] = ago

    def secure(self, request: Request) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        # Behind a TLS-terminating proxy the request itself says http; the public address says https.
        return request.url.scheme == "https" or self.public_https

    def base_url(self, request: Request) -> str:
        return self.public_url or str(request.base_url).rstrip("/")

    def fragment(self, template: str, context: Mapping[str, Any]) -> str:
        return self.environment.get_template(template).render(context)

    def html(
        self, html: str, *, status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> HTMLResponse:
        return HTMLResponse(html, status_code=status_code, headers={**_SECURITY_HEADERS, **(headers or {})})

    def page(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any],
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        html = self.fragment(template, {**context, "csrf_token": csrf.token(request)})
        response = self.html(html, status_code=status_code, headers=headers)
        csrf.set_cookie(request, response, secure=self.secure(request))
        if "language" in context:  # a guest page, in the guest's language
            languages.remember_choice(request, response, secure=self.secure(request))
        return response

    def error(self, request: Request, *, status_code: int, title: str, message: str) -> HTMLResponse:
        """An error page; ``title`` and ``message`` are message ids (N_), shown in the guest's language
        (staff pages, which are English, keep English)."""
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status_code == 503 else None
        staff = request.url.path.startswith("/staff")
        return self.page(
            request,
            "error.html",
            {
                "title": title,
                "message": message,
                "language": ENGLISH if staff else languages.page_language(request),
            },
            status_code=status_code,
            headers=headers,
        )


def get_pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


PagesDep = Annotated[Pages, Depends(get_pages)]


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def wants_json(request: Request) -> bool:
    """A client that asks for JSON (and not for HTML) gets problem+json errors; browsers get pages."""
    accept = request.headers.get("accept", "")
    return "json" in accept and "text/html" not in accept and not is_htmx(request)


class PageRoute(APIRoute):
    """For a browser, errors become pages: not found -> 404 page, signed out -> the login page, refused ->
    403 page. A client that asks for JSON gets the app's problem+json, as on the API."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except (WaitlineError, RequestValidationError) as error:
                if wants_json(request):
                    raise
                return _error_page(request, error)

        return page_handler


def _error_page(request: Request, error: Exception) -> Response:
    pages = get_pages(request)
    if isinstance(error, RestaurantNotFound | EntryNotFound | RequestValidationError):
        return pages.error(
            request,
            status_code=404,
            title=N_("Not found"),
            message=N_("There is nothing at this address. Please check the link or the QR code."),
        )
    if isinstance(error, NotAuthenticated):
        slug = request.path_params.get("slug")
        login = f"/staff/{slug}/login" if slug else "/admin/login"
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": login})
        return RedirectResponse(login, status_code=303)
    if isinstance(error, NotPermitted):
        return pages.error(request, status_code=403, title=N_("Not allowed"), message=str(error))
    if isinstance(error, csrf.CsrfRefused):
        return pages.error(request, status_code=403, title=N_("Please reload the page"), message=error.detail)
    if isinstance(error, ServiceUnavailable):
        return pages.error(request, status_code=503, title=N_("Busy"), message=str(error))
    return pages.error(request, status_code=400, title=N_("Sorry"), message=str(error))


class StaticAssets(StaticFiles):
    """/static: a versioned URL (``?v=<hash>``, as the templates write them) may be cached for good."""

    def __init__(self) -> None:
        super().__init__(directory=STATIC_DIRECTORY)

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        versioned = b"v=" in scope.get("query_string", b"")
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable" if versioned else "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
