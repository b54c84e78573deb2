"""Refuses request bodies over a size limit with 413, whether or not they declare a Content-Length."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from waitline.web import problems


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = problems.problem_response(
                status=413,
                code=None,
                title="Content too large",
                detail=f"Request bodies are limited to {self.max_bytes} bytes.",
            )
            await response(scope, receive, send)
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the route's body read, so the app's HTTPException handler answers it.
                    raise HTTPException(413, f"Request bodies are limited to {self.max_bytes} bytes.")
            return message

        await self.app(scope, counting_receive, send)
