"""Live pages: Server-Sent Events that re-render a page's live part whenever its restaurant's log grows.

Each stream subscribes to the process's ``LiveHub`` (web/hub.py), which wakes it when the restaurant's
event log has grown; the stream then re-reads the state through the services and sends the re-rendered HTML,
if it changed. It also re-reads every ``live_refresh_seconds``, for what changes with time alone.

Bounded: a stream holds one flag and the last HTML it sent (no queue of events), and no database connection
between re-reads; re-reads run at most ``render_slots`` at a time per process (half the connection pool,
so that requests always find connections) and at most one per ``_MIN_RENDER_INTERVAL`` per stream, however
many changes arrive; a client that does not take an update within ``live_send_timeout_seconds`` is dropped;
at most ``live_max_connections`` streams per process, shared out so that one client or restaurant cannot
take them all and staff streams keep a reserve (``StreamLimits``, web/hub.py); a stream ends after
``live_max_stream_seconds`` (the browser reconnects, to any instance) or when the server shuts down, so that
SIGTERM never waits on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from waitline.config import Settings
from waitline.domain import ServiceUnavailable, WaitlineError
from waitline.web.dependencies import counted_client
from waitline.web.hub import ClientFull, HubFull, LiveHub, Subscription
from waitline.web.problems import problem_response
from waitline.web.shutdown_signals import Forward, on_shutdown_signals

_log = logging.getLogger("waitline.live")

_MIN_RENDER_INTERVAL = 0.2
_HEARTBEAT_SECONDS = 15.0
_RETRY_MILLISECONDS = 2000
_BUSY_RETRY_SECONDS = 5


def _event(name: str, data: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {name}\n{lines}\n".encode()


def _refusal(full: HubFull) -> Response:
    """Problem+json: 429 for a client over its share (it should wait), 503 when the streams are all taken."""
    headers = {"Retry-After": str(_BUSY_RETRY_SECONDS), "Cache-Control": "no-store"}
    if isinstance(full, ClientFull):
        return problem_response(
            status=429,
            code="too-many-live-connections",
            title="Too many live connections",
            detail="This device already has as many live pages open as it may; close one, or retry shortly.",
            headers=headers,
        )
    return problem_response(
        status=503,
        code="live-connections-full",
        title="Live connections full",
        detail="Too many live connections; retry shortly.",
        headers=headers,
    )


def ended_event() -> bytes:
    """Tells the page to reload (its staff session is gone): a stream of just that."""
    return _event("ended", "")


class EventStream(Response):
    """``text/event-stream`` of a live page part: ``update`` events carry its HTML; ``ended`` says the page
    should reload (the staff session ended)."""

    media_type = "text/event-stream"

    def __init__(
        self,
        *,
        hub: LiveHub,
        restaurant_id: uuid.UUID,
        render: Callable[[], Awaitable[str]],
        send_timeout_seconds: float,
        max_seconds: float,
        headers: dict[str, str] | None = None,
        client: str | None = None,
    ) -> None:
        """``client``: the guest client the stream counts against (web/hub.py); None for a staff stream."""
        super().__init__(
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no", **(headers or {})},
            media_type=self.media_type,
        )
        # A stream has no length.
        self.raw_headers = [(name, value) for name, value in self.raw_headers if name != b"content-length"]
        self.hub = hub
        self.restaurant_id = restaurant_id
        self.read_and_render = render
        self.send_timeout_seconds = send_timeout_seconds
        self.max_seconds = max_seconds
        self.client = client
        self._disconnected = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            with self.hub.subscribe(self.restaurant_id, client=self.client) as subscription:
                await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
                watcher = asyncio.create_task(self._watch_disconnect(receive, subscription))
                try:
                    await self._stream(send, subscription)
                finally:
                    watcher.cancel()
        except HubFull as full:
            await _refusal(full)(scope, receive, send)

    async def _watch_disconnect(self, receive: Receive, subscription: Subscription) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._disconnected = True
        subscription.wake()

    async def _stream(self, send: Send, subscription: Subscription) -> None:
        deadline = time.monotonic() + self.max_seconds
        last_html: str | None = None
        last_render = last_send = 0.0
        pending = f"retry: {_RETRY_MILLISECONDS}\n\n".encode()
        woken = True  # the first read happens at once
        while not (self.hub.closing or self._disconnected) and time.monotonic() < deadline:
            since_render = time.monotonic() - last_render
            # Re-read when the log grew (woken), and every refresh_seconds regardless ("waited 12 min").
            if woken or since_render >= self.hub.refresh_seconds:
                if since_render < _MIN_RENDER_INTERVAL:
                    await asyncio.sleep(_MIN_RENDER_INTERVAL - since_render)
                last_render = time.monotonic()
                html: str | None = None
                try:
                    async with self.hub.render_slots:
                        html = await self.read_and_render()
                except ServiceUnavailable:
                    pass  # the database is busy: the page keeps what it shows; try again later
                except WaitlineError:
                    # Signed out, or the entry or restaurant is gone: the page reloads and says so.
                    await self._send(send, pending + ended_event(), more_body=False)
                    return
                if html is not None and html != last_html:
                    pending += _event("update", html)
                    last_html = html
            if not pending and time.monotonic() - last_send >= _HEARTBEAT_SECONDS:
                pending = b": keep-alive\n\n"
            if pending:
                if not await self._send(send, pending):
                    return
                pending = b""
                last_send = time.monotonic()
            woken = await subscription.wait(self.hub.idle_timeout)
        await self._send(send, b"", more_body=False)

    async def _send(self, send: Send, body: bytes, *, more_body: bool = True) -> bool:
        """False when the client is gone or too slow to take it: the stream ends without waiting more."""
        try:
            async with asyncio.timeout(self.send_timeout_seconds):
                await send({"type": "http.response.body", "body": body, "more_body": more_body})
        except TimeoutError:
            _log.info(
                "dropped a live client that did not take an update in %.0f s", self.send_timeout_seconds
            )
            return False
        except OSError:
            return False
        return True


@contextlib.contextmanager
def ending_streams_on_shutdown(hub: LiveHub) -> Iterator[None]:
    """Ends the live streams as soon as SIGTERM or SIGINT arrives.

    The server waits for open connections before it shuts the app down, and a live stream would otherwise stay
    open until the graceful shutdown timeout. The signal handler in place (the server's) still runs.
    """
    loop = asyncio.get_running_loop()

    def handler(signum: int, frame: FrameType | None, forward: Forward) -> None:
        loop.call_soon_threadsafe(hub.close)
        forward(signum, frame)

    with on_shutdown_signals(handler):
        yield


def stream(
    request: Request, *, restaurant_id: uuid.UUID, render: Callable[[], Awaitable[str]], staff: bool = False
) -> EventStream:
    """The live stream of one page part, with this app's limits: a guest's counts against its client's and
    its restaurant's share; a signed-in staff member's (``staff``) may use the reserve kept for staff."""
    settings: Settings = request.app.state.settings
    return EventStream(
        client=None if staff else counted_client(request),
        hub=request.app.state.hub,
        restaurant_id=restaurant_id,
        render=render,
        send_timeout_seconds=settings.live_send_timeout_seconds,
        max_seconds=settings.live_max_stream_seconds,
    )
