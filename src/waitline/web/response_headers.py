"""Headers a response gets for what it is, whichever route, error handler or middleware made it.

- JSON (the API, problem+json, the OpenAPI document): ``Cache-Control: no-store`` unless the response says
  otherwise. The staff list carries phone numbers, and every answer is about a queue that changes by the
  second: no browser or shared cache may keep one.
- With an https ``WAITLINE_PUBLIC_URL``, every response carries HSTS: browsers then never try plain http
  first. (``includeSubDomains`` and ``preload`` commit the whole domain: leave them to its owner's proxy.)
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = "max-age=31536000"


def is_json(content_type: str) -> bool:
    """``application/json``, or a ``+json`` type such as ``application/problem+json``."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class ResponseHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if is_json(headers.get("content-type", "")) and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
                if self.hsts:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)
