"""The guest's API: join a queue, watch the entry, leave; and a queue's public summary."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Response, status
from fastapi.exceptions import RequestValidationError

from waitline.web.dependencies import ClientIP, ServicesDep, Slug
from waitline.web.problems import documented, rate_limit_headers
from waitline.web.schemas import EntryOut, IdempotencyKey, JoinBody, QueueSummaryOut

router = APIRouter(prefix="/api/public", tags=["guest"])


@router.get("/{slug}", responses=documented(404))
async def get_queue_summary(slug: Slug, services: ServicesDep) -> QueueSummaryOut:
    return QueueSummaryOut.of(await services.restaurants.summary(slug=slug))


@router.post(
    "/{slug}/queue",
    status_code=status.HTTP_201_CREATED,
    responses=documented(
        400,
        404,
        409,
        429,
        _200={"model": EntryOut, "description": "A replay: the entry this idempotency key made"},
    ),
)
async def join_queue(
    slug: Slug,
    body: JoinBody,
    response: Response,
    services: ServicesDep,
    client_ip: ClientIP,
    idempotency_key_header: Annotated[IdempotencyKey | None, Header(alias="Idempotency-Key")] = None,
) -> EntryOut:
    if body.idempotency_key and idempotency_key_header and body.idempotency_key != idempotency_key_header:
        raise RequestValidationError(
            [{"loc": ("header", "Idempotency-Key"), "msg": "differs from idempotencyKey in the body"}]
        )
    result = await services.queue.join(
        client_ip=client_ip,
        slug=slug,
        name=body.name,
        mobile=body.mobile_number,
        party_size=body.party_size,
        idempotency_key=body.idempotency_key or idempotency_key_header,
        email=body.email,
        language=body.language,
    )
    if not result.created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    if result.rate_limit is not None:
        response.headers.update(rate_limit_headers(result.rate_limit))
    return EntryOut.of(result.entry)


@router.get("/{slug}/queue/{entry_id}", responses=documented(404))
async def get_entry(slug: Slug, entry_id: uuid.UUID, services: ServicesDep) -> EntryOut:
    return EntryOut.of(await services.queue.get_entry(slug=slug, entry_id=entry_id))


@router.delete("/{slug}/queue/{entry_id}", responses=documented(404, 409))
async def leave_queue(slug: Slug, entry_id: uuid.UUID, services: ServicesDep) -> EntryOut:
    return EntryOut.of(await services.queue.leave(slug=slug, entry_id=entry_id))
