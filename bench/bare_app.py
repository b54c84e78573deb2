"""The second reference: a bare FastAPI + asyncpg app with the same URLs and JSON bodies as waitline, and
nothing else: no idempotency, no rate limits, no validation beyond pydantic's, no logging, no metrics, no
staff authentication.

- Join: the transaction in four round trips (BEGIN; UPDATE the counter RETURNING the token; INSERT the
  entry; COMMIT), as a straightforward app would write it.
- Call-next: the very statement waitline runs (``waitline_call_next``: the claim and its `called` event),
  one round trip. (The join writes no event: it is the plain transaction, nothing more.)

Run: ``BARE_DATABASE_URL=postgresql://… uvicorn --factory bench.bare_app:create_app``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from fastapi import Body, FastAPI, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class JoinBody(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    name: str = Field(min_length=1, max_length=320)
    mobile_number: str = Field(min_length=3, max_length=40)
    party_size: int = Field(ge=1, le=20)
    idempotency_key: str | None = None


class CallNextBody(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    max_party_size: int | None = Field(default=None, ge=1, le=20)


BUMP = """
    UPDATE token_sequence SET last_token = last_token + 1
    WHERE restaurant_id = (SELECT id FROM restaurant WHERE slug = $1)
    RETURNING restaurant_id, last_token
"""
INSERT = """
    INSERT INTO queue_entry (id, restaurant_id, token_number, name, mobile, party_size, status,
                             idempotency_key)
    VALUES ($1, $2, $3, $4, $5, $6, 'waiting', $7)
    RETURNING id, token_number, status, name, party_size, created_at, called_at
"""
# waitline's _CALL_NEXT_POSTGRESQL (store/calls.py), word for word but for the actor: an API token.
CALL_NEXT = """
    SELECT *, NULL AS position FROM waitline_call_next(
        CAST($1 AS uuid), CAST($2 AS integer), 'api_token', 'bare', NULL
    )
"""


def _entry(row: asyncpg.Record, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "tokenNumber": row["token_number"],
        "status": row["status"],
        "position": None,
        "name": row["name"],
        "partySize": row["party_size"],
        "createdAt": row["created_at"].isoformat(),
        "calledAt": row["called_at"].isoformat() if row["called_at"] else None,
        **extra,
    }


def create_app() -> FastAPI:
    database_url = os.environ["BARE_DATABASE_URL"]
    pool_size = int(os.environ.get("BARE_POOL_SIZE", "20"))
    pools: list[asyncpg.Pool] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        pools.append(await asyncpg.create_pool(database_url, min_size=pool_size, max_size=pool_size))
        try:
            yield
        finally:
            await pools[0].close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/api/public/{slug}/queue", status_code=201)
    async def join(slug: str, body: JoinBody, response: Response) -> dict[str, Any]:
        async with pools[0].acquire() as connection, connection.transaction():
            bumped = await connection.fetchrow(BUMP, slug)
            if bumped is None:
                response.status_code = 404
                return {"title": "Not found"}
            row = await connection.fetchrow(
                INSERT,
                uuid.uuid4(),
                bumped["restaurant_id"],
                bumped["last_token"],
                body.name,
                body.mobile_number,
                body.party_size,
                body.idempotency_key,
            )
        return _entry(row)

    @app.post("/api/admin/{restaurant_id}/queue/call-next", response_model=None)
    async def call_next(
        restaurant_id: uuid.UUID, body: Annotated[CallNextBody | None, Body()] = None
    ) -> Response | dict[str, Any]:
        max_party_size = body.max_party_size if body else None
        row = await pools[0].fetchrow(CALL_NEXT, restaurant_id, max_party_size)
        if row is None:
            return Response(status_code=204)
        return _entry(row, mobileNumber=row["mobile"])

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
