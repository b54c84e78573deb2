"""The composition root: settings -> engine -> database -> routers, middleware and error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from waitline.config import Settings
from waitline.store.engine import open_database
from waitline.web import api_public, api_staff, problems
from waitline.web.body_limit import BodyLimitMiddleware

READINESS_TIMEOUT_SECONDS = 1.0


def create_app(settings: Settings) -> FastAPI:
    database = open_database(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await database.dispose()

    app = FastAPI(
        title="waitline",
        summary="A virtual queue for restaurants: join from a phone, staff call the next party.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    problems.install(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.include_router(api_public.router)
    app.include_router(api_staff.router)

    @app.get("/healthz", tags=["operations"], responses=problems.documented())
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

    return app


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` (each worker process builds its own app from WAITLINE_*)."""
    return create_app(Settings())
