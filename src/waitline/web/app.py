"""The composition root: settings -> logging, metrics, database, limiter -> routers, middleware, handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import structlog
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from waitline.config import Settings
from waitline.observability import MessageMetrics, Metrics, OutcomeRecorder, configure_logging
from waitline.ratelimit import InProcessLimiter, JoinLimits, RatePolicy, ResilientLimiter
from waitline.services import Services
from waitline.services.notifier import build_notifier
from waitline.services.outcomes import Observers
from waitline.store.engine import open_database
from waitline.store.redis_limiter import RedisLimiter
from waitline.store.signals import SignalConnection
from waitline.web import (
    api_analytics,
    api_docs,
    api_events,
    api_public,
    api_staff,
    live,
    pages_admin,
    pages_analytics,
    pages_guest,
    pages_owners,
    pages_staff,
    policy,
    problems,
    webhooks,
)
from waitline.web.allowed_hosts import AllowedHostsMiddleware, configured_hosts
from waitline.web.body_limit import BodyLimitMiddleware
from waitline.web.draining import Drain, draining_on_shutdown
from waitline.web.hub import LiveHub, StreamLimits
from waitline.web.metrics_access import require_metrics_token
from waitline.web.rendering import Pages, StaticAssets
from waitline.web.response_headers import ResponseHeadersMiddleware
from waitline.web.telemetry import TelemetryMiddleware

READINESS_TIMEOUT_SECONDS = 1.0
# How long background tasks get to finish the step they are in when the app stops.
STOP_SECONDS = 5.0
RATE_LIMIT_SWEEP_SECONDS = 60.0
HOLD_SWEEP_SECONDS = 5.0

_log = structlog.get_logger("waitline.app")


def create_app(settings: Settings, *, clock: Callable[[], float] = time.time) -> FastAPI:
    """``clock`` (seconds since the epoch) is what the rate limits count in; tests pass their own."""
    configure_logging(json=settings.log_json, level=logging.getLevelName(settings.log_level.upper()))
    database = open_database(settings)
    metrics = Metrics()
    limits = _join_limits(settings, metrics=metrics, clock=clock)
    hub = LiveHub(
        max_connections=StreamLimits(
            total=settings.live_max_connections,
            staff_reserve=settings.live_staff_reserve,
            per_client=settings.live_max_per_client,
            per_restaurant=settings.live_max_per_restaurant,
        ),
        poll_seconds=settings.live_poll_seconds,
        recheck_seconds=settings.live_recheck_seconds,
        refresh_seconds=settings.live_refresh_seconds,
        render_slots=max(1, settings.pool_connections // 2),
    )
    signal_connection = None
    if settings.listen_dsn is not None:
        signal_connection = SignalConnection(
            dsn=settings.listen_dsn, on_signal=hub.signalled, on_listening=hub.signals
        )
        hub.announce_with(signal_connection.announce)
    message_metrics = MessageMetrics(metrics)
    notifier = build_notifier(settings, database=database, observer=message_metrics)
    observers = Observers([OutcomeRecorder(metrics), hub, notifier])
    services = Services(
        database=database,
        limits=limits,
        observer=observers,
        messages=message_metrics,
        join_batch_max=settings.join_batch_max if settings.join_coalescing else 0,
    )
    notifier.sweep_with(services.holds.expire)
    # The notification worker runs in each serving process when a channel is configured (issue 9).
    stop_notifier = asyncio.Event()
    drain = Drain()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # These two stop when asked, at the end of the step they are in: cancelled halfway through a database
        # read or a connect, they would leave a connection in a state its pool or driver reports as an error.
        # Every pool connection opened now, and kept: none is opened or closed under load.
        opened = await database.open_pool(timeout_seconds=settings.transaction_timeout_seconds)
        _log.info("database.pool_opened", connections=opened)
        stoppable = [asyncio.create_task(hub.follow(lambda ids: services.events.heads(restaurant_ids=ids)))]
        if signal_connection is not None:
            stoppable.append(asyncio.create_task(signal_connection.run()))
        # Quotes recorded and calibrations learnt off the request path; what is queued is written at stop.
        stoppable.append(asyncio.create_task(services.estimates.run()))
        tasks = [asyncio.create_task(_sweep_rate_limits(services, clock))]
        if settings.notify_in_process and (
            settings.twilio_configured or settings.mail_configured or settings.web_push
        ):
            stoppable.append(asyncio.create_task(notifier.run(stop_notifier)))
        elif settings.notify_in_process:
            # No channel to send on: only the hold window's automatic no-shows to look after.
            tasks.append(asyncio.create_task(_expire_holds(services)))
        try:
            with (
                live.ending_streams_on_shutdown(hub),
                # Inside: a shutdown signal drains first, then ends the streams and stops the server.
                draining_on_shutdown(
                    drain, drain_seconds=settings.shutdown_drain_seconds, unix_socket=settings.unix_socket
                ),
            ):
                yield
        finally:
            hub.close()
            stop_notifier.set()
            if signal_connection is not None:
                signal_connection.stop()
            services.estimates.stop()
            await asyncio.wait(stoppable, timeout=STOP_SECONDS)
            for task in [*stoppable, *tasks]:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if limits.shared is not None:
                await limits.shared.close()
            await notifier.close()
            await database.dispose()

    app = FastAPI(
        title="waitline",
        summary="A virtual queue for restaurants: join from a phone, staff call the next party.",
        version="0.1.0",
        lifespan=lifespan,
        # FastAPI's pages load Swagger UI and ReDoc from a CDN: /docs comes from web/api_docs.py instead.
        docs_url=None,
        redoc_url=None,
        # Who may do what, decided for every route in one place (web/policy.py).
        dependencies=[Depends(policy.authorise)],
    )
    app.state.settings = settings
    app.state.services = services
    app.state.metrics = metrics
    app.state.sign_in_limit = RatePolicy.parse(settings.rate_limit_sign_in_per_ip, name="sign-in")
    app.state.hub = hub
    app.state.pages = Pages(settings)
    app.state.page_hosts = frozenset({urlsplit(settings.public_url).netloc} if settings.public_url else ())
    problems.install(app)
    app.add_middleware(AllowedHostsMiddleware, hosts=configured_hosts(settings))
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        ResponseHeadersMiddleware, hsts=(settings.public_url or "").lower().startswith("https://")
    )
    # Outermost: it times and logs everything, including what the body limit refuses.
    app.add_middleware(
        TelemetryMiddleware,
        metrics=metrics,
        pool_status=database.pool_status,
        trusted_proxies=settings.trusted_proxy_networks,
        # Only what can open the socket file reaches a Unix socket: the proxy in front (nginx).
        trust_unix_socket_peer=settings.unix_socket is not None,
    )
    app.include_router(api_public.router)
    app.include_router(api_staff.router)
    app.include_router(api_events.router)
    app.include_router(api_analytics.router)
    app.mount("/static", StaticAssets(), name="static")
    app.include_router(api_docs.router)
    app.include_router(webhooks.router)

    @app.get("/healthz", tags=["operations"], responses=problems.documented())
    async def healthz() -> dict[str, str]:
        """The process is up (it says nothing of the database)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses=problems.documented())
    async def readyz() -> JSONResponse:
        """The database answers within a second: ready for traffic. 503 from SIGTERM on (draining)."""
        if drain.active:
            return _not_ready("This instance is shutting down.")
        if await services.ping(timeout_seconds=READINESS_TIMEOUT_SECONDS):
            return JSONResponse({"status": "ready"})
        return _not_ready("The database does not answer.")

    # For Prometheus, not for API clients: left out of the OpenAPI document.
    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(require_metrics_token)])
    async def prometheus_metrics() -> Response:
        """Prometheus text format; with several workers, the sum over all of them."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # Last: the guest pages live at /{slug}, below every fixed path.
    app.include_router(pages_analytics.router)
    app.include_router(pages_staff.router)
    app.include_router(pages_admin.router)
    app.include_router(pages_owners.router)
    app.include_router(pages_guest.router)
    return app


def _not_ready(detail: str) -> JSONResponse:
    return problems.problem_response(
        status=503,
        code="service-unavailable",
        title="Not ready",
        detail=detail,
        headers={"Retry-After": str(problems.RETRY_AFTER_SECONDS)},
    )


def _join_limits(settings: Settings, *, metrics: Metrics, clock: Callable[[], float]) -> JoinLimits:
    shared = None
    if settings.rate_limit_url:

        def on_fallback_change(falling_back: bool) -> None:
            metrics.limiter_fallback.set(1 if falling_back else 0)
            if falling_back:
                _log.warning("rate_limiter.fallback", detail="shared store unavailable; limiting per process")
            else:
                _log.info("rate_limiter.recovered", detail="shared store answers again")

        shared = ResilientLimiter(
            RedisLimiter(settings.rate_limit_url, clock=clock),
            fallback=InProcessLimiter(clock=clock),
            on_fallback_change=on_fallback_change,
        )
    metrics.limiter_fallback.set(0)
    return JoinLimits(
        per_ip=RatePolicy.parse(settings.rate_limit_per_ip, name="per-ip"),
        per_mobile=RatePolicy.parse(settings.rate_limit_per_mobile, name="per-mobile"),
        shared=shared,
        clock=clock,
    )


async def _sweep_rate_limits(services: Services, clock: Callable[[], float]) -> None:
    """Forget rate-limit rows whose allowance is whole again, now and then (every instance does it)."""
    while True:
        await asyncio.sleep(RATE_LIMIT_SWEEP_SECONDS)
        try:
            deleted = await services.queue.sweep_rate_limits(now=clock())
        except Exception:  # the sweep is housekeeping: it must never take the app down
            _log.warning("rate_limiter.sweep_failed", exc_info=True)
        else:
            _log.debug("rate_limiter.swept", deleted=deleted)


async def _expire_holds(services: Services) -> None:
    while True:
        await asyncio.sleep(HOLD_SWEEP_SECONDS)
        try:
            await services.holds.expire()
        except Exception:  # housekeeping: it must never take the app down
            _log.warning("holds.expire_failed", exc_info=True)


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` (each worker process builds its own app from WAITLINE_*)."""
    return create_app(Settings())
