"""The composition root: settings -> engine -> database -> routers, middleware and error handlers."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from waitline import services
from waitline.config import Settings
from waitline.store.engine import Database, make_engine
from waitline.store.notifications import ChangeListener
from waitline.web import api_public, api_staff, live, pages_guest, pages_staff, problems
from waitline.web.body_limit import BodyLimitMiddleware
from waitline.web.rendering import Pages, StaticAssets

READINESS_TIMEOUT_SECONDS = 1.0


def create_app(settings: Settings) -> FastAPI:
    database = Database(
        make_engine(settings), transaction_timeout_seconds=settings.transaction_timeout_seconds
    )

    hub = live.LiveHub(
        max_connections=settings.live_max_connections,
        poll_seconds=settings.live_poll_seconds,
        refresh_seconds=settings.live_refresh_seconds,
        render_slots=max(1, settings.pool_size // 2),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        signals = asyncio.create_task(_watch_changes(settings, database, hub))
        try:
            with live.ending_streams_on_shutdown(hub):
                yield
        finally:
            hub.close()
            signals.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await signals
            await database.dispose()

    app = FastAPI(
        title="waitline",
        summary="A virtual queue for restaurants: join from a phone, staff call the next party.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.hub = hub
    app.state.pages = Pages(settings)
    app.state.page_hosts = frozenset({urlsplit(settings.public_url).netloc} if settings.public_url else ())
    problems.install(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.include_router(api_public.router)
    app.include_router(api_staff.router)
    app.mount("/static", StaticAssets(), name="static")

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up (it says nothing of the database)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses=problems.documented())
    async def readyz() -> JSONResponse:
        """The database answers within a second: ready for traffic."""
        if await database.ping(timeout_seconds=READINESS_TIMEOUT_SECONDS):
            return JSONResponse({"status": "ready"})
        return problems.problem_response(
            status=503,
            code="service-unavailable",
            title="Not ready",
            detail="The database does not answer.",
            headers={"Retry-After": str(problems.RETRY_AFTER_SECONDS)},
        )

    # Last: the guest pages live at /{slug}, below every fixed path.
    app.include_router(pages_staff.router)
    app.include_router(pages_guest.router)
    return app


async def _watch_changes(settings: Settings, database: Database, hub: live.LiveHub) -> None:
    """Feeds the live pages' hub: PostgreSQL's NOTIFY through one LISTEN connection, or SQLite's counters."""
    dsn = settings.listen_dsn
    if dsn is not None:
        await ChangeListener(dsn=dsn, on_change=hub.on_change, on_listening=hub.signals).run()
        return

    async def read_versions(restaurant_ids: set[uuid.UUID]) -> dict[uuid.UUID, int]:
        return await services.queue_versions(database=database, restaurant_ids=restaurant_ids)

    await live.poll_versions(hub, read_versions)


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` (each worker process builds its own app from WAITLINE_*)."""
    return create_app(Settings())
