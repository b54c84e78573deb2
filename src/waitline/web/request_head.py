"""uvicorn's HTTP/1.1 protocols with a bounded request head: a size limit and a deadline.

The request line and headers ("the head") are counted as they arrive, before any parser sees them: a head
larger than the limit gets 431 and the connection is closed, so a client can make the server hold no more
than the limit (plus one socket read) whatever it sends. httptools sets no limit of its own (it gathered a
256 MB header in memory) and h11's answers 400; both get the same rule here. A head that is not complete
within the deadline, counted from its first byte (or from the connection's opening), gets 408: a client that
trickles a byte now and then is cut off just the same. The deadline stops when the head is complete: bodies
are limited by the app (``BodyLimitMiddleware``), idle keep-alive connections by uvicorn.

After a refusal the connection lingers a moment, reading and dropping what the client is still sending, so
that the answer reaches it instead of being lost to a TCP reset (RFC 9112, section 9.6).
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal, cast

import h11
import structlog
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from waitline.web.problems import MEDIA_TYPE, problem_type

HttpImplementation = Literal["httptools", "h11"]

# How long a refused connection keeps reading (and dropping) what the client still sends.
LINGER_SECONDS = 5.0

_log = structlog.get_logger("waitline.http")


@dataclass(frozen=True)
class HeadLimits:
    max_bytes: int
    timeout_seconds: float


def _refusal(status: HTTPStatus, code: str, detail: str) -> bytes:
    body = json.dumps(
        {"type": problem_type(code), "title": status.phrase, "status": status.value, "detail": detail}
    ).encode()
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\n"
        f"content-type: {MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\n"
        "cache-control: no-store\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class HeadGuard:
    """Counts and times the request heads of one connection, and feeds the parser no more of a head than
    the limit allows.

    ``reading_head`` says whether the next byte belongs to a request head (not to a body); the protocol calls
    ``head_complete`` once its parser has a whole head.
    """

    def __init__(
        self,
        limits: HeadLimits,
        *,
        transport: asyncio.Transport,
        loop: asyncio.AbstractEventLoop,
        feed: Callable[[bytes], None],
        reading_head: Callable[[], bool],
    ) -> None:
        self._limits = limits
        self._transport = transport
        self._loop = loop
        self._feed = feed
        self._reading_head = reading_head
        # Bytes the head being read may still take; None between heads.
        self._room: int | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False
        # A connection is opened to send a request: its first head is due at once.
        self._begin_head()

    def receive(self, data: bytes) -> None:
        while data and not self._refused and not self._transport.is_closing():
            if self._room is None and self._reading_head():
                self._begin_head()
            if self._room is None:  # a body: the app's body limit counts it
                self._feed(data)
                return
            if self._room == 0:
                self._refuse_too_large()
                return
            piece, data = data[: self._room], data[self._room :]
            self._room -= len(piece)
            self._feed(piece)

    def head_complete(self) -> None:
        self._room = None
        self._stop_deadline()

    def close(self) -> None:
        self._stop_deadline()

    def _begin_head(self) -> None:
        self._room = self._limits.max_bytes
        self._stop_deadline()
        self._deadline = self._loop.call_later(self._limits.timeout_seconds, self._time_out)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _refuse_too_large(self) -> None:
        detail = f"The request line and headers may take at most {self._limits.max_bytes} bytes."
        self._log("http.head_too_large", max_bytes=self._limits.max_bytes)
        self._refuse(_refusal(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "headers-too-large", detail))

    def _time_out(self) -> None:
        self._deadline = None
        if self._transport.is_closing():
            return
        if self._room == self._limits.max_bytes:  # not a byte came: nothing to answer
            self._transport.close()
            return
        self._log("http.head_timeout", timeout_seconds=self._limits.timeout_seconds)
        detail = f"The request line and headers must arrive within {self._limits.timeout_seconds:g} seconds."
        self._refuse(_refusal(HTTPStatus.REQUEST_TIMEOUT, "request-timeout", detail))

    def _refuse(self, response: bytes) -> None:
        self._refused = True
        self._room = None
        self._stop_deadline()
        self._transport.write(response)
        if self._transport.can_write_eof():
            self._transport.write_eof()
        # Until the client closes its side (the transport then closes itself) or the linger is over.
        self._loop.call_later(LINGER_SECONDS, self._transport.close)

    def _log(self, event: str, **fields: Any) -> None:
        peer = self._transport.get_extra_info("peername")
        _log.warning(event, client=peer[0] if isinstance(peer, tuple) else None, **fields)


class _GuardedHead(asyncio.Protocol):
    """What both bounded protocols share: every byte received goes through the connection's HeadGuard."""

    def __init__(self, *args: Any, head_limits: HeadLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_limits = head_limits

    def _reading_head(self) -> bool:
        raise NotImplementedError

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._guard = HeadGuard(
            self._head_limits,
            # uvloop's transports are not asyncio.Transport subclasses, yet have all it has.
            transport=cast(asyncio.Transport, transport),
            loop=asyncio.get_running_loop(),
            feed=super().data_received,
            reading_head=self._reading_head,
        )

    def data_received(self, data: bytes) -> None:
        self._guard.receive(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.close()
        super().connection_lost(exc)


class BoundedHttpToolsProtocol(_GuardedHead, HttpToolsProtocol):
    _reading_body = False

    def _reading_head(self) -> bool:
        return not self._reading_body

    def on_headers_complete(self) -> None:
        self._reading_body = True
        self._guard.head_complete()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_body = False
        super().on_message_complete()


class BoundedH11Protocol(_GuardedHead, H11Protocol):
    def _reading_head(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:
            self._guard.head_complete()


def protocol(implementation: HttpImplementation, limits: HeadLimits) -> type[asyncio.Protocol]:
    """What to pass to ``uvicorn.run(http=...)``; a partial (not a class made on the fly), so that
    ``--workers`` can pickle it for its worker processes."""
    chosen = BoundedHttpToolsProtocol if implementation == "httptools" else BoundedH11Protocol
    return cast(type[asyncio.Protocol], functools.partial(chosen, head_limits=limits))
