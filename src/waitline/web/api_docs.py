"""/docs: Swagger UI served from /static (swagger-ui-dist, vendored), under a Content-Security-Policy that
lets the page load nothing from elsewhere. FastAPI's own /docs and /redoc load their scripts from a CDN and
are switched off in ``create_app``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from waitline.web.rendering import PagesDep

router = APIRouter(include_in_schema=False)

# Scripts, styles and requests to this origin only; Swagger UI draws a few icons as data: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@router.get("/docs")
async def api_docs(request: Request, pages: PagesDep) -> HTMLResponse:
    html = pages.fragment("api_docs.html", {"openapi_url": request.app.openapi_url})
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )
