"""The guest's API: join a queue, watch the entry, leave; and a queue's public summary."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Response, status
from fastapi.exceptions import RequestValidationError

from waitline.web.dependencies import ClientIP, ServicesDep, Slug
from waitline.web.model_response import ModelResponse
from waitline.web.problems import documented, rate_limit_headers
from waitline.web.schemas import EntryOut, IdempotencyKey, JoinBody, QueueSummaryOut

router = APIRouter(prefix="/api/public", tags=["guest"])


@router.get("/{slug}", responses=documented(404))
async def get_queue_summary(slug: Slug, services: ServicesDep) -> QueueSummaryOut:
    return QueueSummaryOut.of(await services.restaurants.summary(slug=slug))


@router.post(
    "/{slug}/queue",
    status_code=status.HTTP_201_CREATED,
    response_model=EntryOut,
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
    services: ServicesDep,
    client_ip: ClientIP,
    idempotency_key_header: Annotated[IdempotencyKey | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
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
    headers = {} if result.created else {"Idempotent-Replayed": "true"}
    if result.rate_limit is not None:
        headers.update(rate_limit_headers(result.rate_limit))
    return ModelResponse(
        EntryOut.of(result.entry),
        status_code=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        headers=headers,
    )


@router.get("/{slug}/queue/{entry_id}", response_model=EntryOut, responses=documented(404))
async def get_entry(slug: Slug, entry_id: uuid.UUID, services: ServicesDep) -> Response:
    return ModelResponse(EntryOut.of(await services.queue.get_entry(slug=slug, entry_id=entry_id)))


@router.delete("/{slug}/queue/{entry_id}", responses=documented(404, 409))
async def leave_queue(slug: Slug, entry_id: uuid.UUID, services: ServicesDep) -> EntryOut:
    return EntryOut.of(await services.queue.leave(slug=slug, entry_id=entry_id))
