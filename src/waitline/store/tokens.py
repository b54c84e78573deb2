"""Staff API tokens, known by the SHA-256 of their secret: every statement about them, by name."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain import ApiToken
from waitline.store.driver import fetch_row
from waitline.store.statement import Statement

_INSERT_API_TOKEN = Statement(
    "INSERT INTO api_token (id, restaurant_id, token_hash) VALUES (:id, :restaurant_id, :token_hash)"
)
_TOKEN_BY_HASH = Statement(
    "SELECT id, restaurant_id FROM api_token WHERE token_hash = :token_hash AND revoked_at IS NULL"
)


async def create_api_token(
    *, connection: AsyncConnection, restaurant_id: uuid.UUID, token_hash: str
) -> ApiToken:
    params = {"id": str(uuid.uuid4()), "restaurant_id": str(restaurant_id), "token_hash": token_hash}
    await connection.execute(_INSERT_API_TOKEN.on(connection), params)
    return ApiToken(id=uuid.UUID(params["id"]), restaurant_id=restaurant_id)


async def token_by_hash(*, connection: AsyncConnection, token_hash: str) -> ApiToken | None:
    params = {"token_hash": token_hash}
    row = await fetch_row(connection, _TOKEN_BY_HASH, params)  # before every staff API call: asyncpg's own
    return None if row is None else ApiToken.from_row(row)
