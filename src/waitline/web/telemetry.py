"""One log event and one latency observation per request, and the request id.

A pure ASGI middleware, so that it also sees the responses error handlers and other middleware produce.
What a request did to a queue is counted by the services' observer (observability.OutcomeRecorder), not
here: a route and a status code do not say whether call-next called anyone. The observer hands what it saw
(operation, outcome, entry, token) to this request's event: one line per request, not one more per use case.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from waitline.config import IPNetwork
from waitline.observability import Metrics, RequestOutcome, request_outcome
from waitline.web import problems
from waitline.web.client_ip import client_ip

REQUEST_ID_HEADER = b"x-request-id"
_ACCEPTABLE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")

_log = structlog.get_logger("waitline.request")
# The request event's own fields, which an outcome's fields never replace (its entry id may fill in one).
_OWN = frozenset({"method", "route", "status", "duration_ms", "restaurant", "client"})


class PoolStatus(Protocol):
    @property
    def in_use(self) -> int: ...

    @property
    def capacity(self) -> int: ...


class TelemetryMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        pool_status: Callable[[], PoolStatus],
        trusted_proxies: Sequence[IPNetwork],
        trust_unix_socket_peer: bool = False,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.pool_status = pool_status
        self.trusted_proxies = trusted_proxies
        self.trust_unix_socket_peer = trust_unix_socket_peer
        # Per request, as little metric work as can be: each (route, method, status)'s histogram child is
        # looked up once (``labels`` takes a lock and builds a key each time), the pool's capacity is set
        # once, and its use only when it changed (with several workers each write goes to a shared file).
        self._latency: dict[tuple[str, str, int], Any] = {}
        self._pool_in_use = -1
        self.metrics.pool_size.set(pool_status().capacity)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        peer = (scope.get("client") or (None,))[0]
        scope["waitline.client_ip"] = client_ip(
            peer=peer,
            forwarded_for=[
                value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"
            ],
            trusted=self.trusted_proxies,
            # A Unix socket's peer has no address (uvicorn gives no client): it is the proxy, if we say so.
            trusted_socket_peer=peer is None and self.trust_unix_socket_peer,
        )
        status = 500
        responded = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id), request_outcome() as outcome:
            try:
                await self.app(scope, receive, send_with_request_id)
            except asyncio.CancelledError:
                # Cut off by a shutdown whose grace ran out. The outcome is unknown (a join may still
                # commit): "retry", with the same idempotency key, is the true answer, not uvicorn's 500.
                if not responded:
                    await _shutting_down(scope, receive, send_with_request_id)
                raise
            finally:
                self._record(scope, status, time.perf_counter() - started, outcome)

    def _record(self, scope: Scope, status: int, duration: float, outcome: RequestOutcome) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        key = (template, scope["method"], status)
        latency = self._latency.get(key)
        if latency is None:
            latency = self._latency[key] = self.metrics.requests.labels(
                template, scope["method"], str(status)
            )
        latency.observe(duration)
        if status >= 400:
            self.metrics.errors.labels(str(status)).inc()
        in_use = self.pool_status().in_use
        if in_use != self._pool_in_use:
            self._pool_in_use = in_use
            self.metrics.pool_in_use.set(in_use)
        params: dict[str, Any] = scope.get("path_params", {})
        fields: dict[str, Any] = {
            "method": scope["method"],
            "route": template,
            "status": status,
            "duration_ms": round(duration * 1000, 2),
            "restaurant": params.get("slug") or params.get("restaurantId"),
            "entry_id": params.get("entry_id"),
            "client": scope["waitline.client_ip"],
        }
        outcome.open = False
        # The use case's fields last: a join's entry id is known only from its outcome.
        fields.update((key, value) for key, value in outcome.fields.items() if key not in _OWN)
        _log.info("request", **fields)


async def _shutting_down(scope: Scope, receive: Receive, send: Send) -> None:
    response = problems.problem_response(
        status=503,
        code="service-unavailable",
        title="Service unavailable",
        detail="The server is shutting down; please try again in a moment.",
        headers={"Retry-After": str(problems.RETRY_AFTER_SECONDS)},
    )
    await response(scope, receive, send)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _ACCEPTABLE_REQUEST_ID.fullmatch(value):
            return str(value.decode())
    return uuid.uuid4().hex
