"""The API's JSON shapes (camelCase), kept apart from tables and domain values."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from waitline.domain import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PARTY_SIZE,
    Entry,
    QueueSummary,
    Status,
)


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


def _clean_name(value: str) -> str:
    """NFC, trimmed, inner runs of white space folded; no control or invisible format characters."""
    value = " ".join(unicodedata.normalize("NFC", value).split())
    if not value:
        raise ValueError("must contain at least one visible character")
    if any(unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn"} for char in value):
        raise ValueError("must not contain control or invisible characters")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"must be at most {MAX_NAME_LENGTH} characters")
    return value


GuestName = Annotated[str, StringConstraints(max_length=4 * MAX_NAME_LENGTH), AfterValidator(_clean_name)]
# Printable ASCII, as HTTP header values can carry it unchanged.
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_IDEMPOTENCY_KEY_LENGTH, pattern=r"^[\x21-\x7e]+$")
]
PartySize = Annotated[int, Field(strict=True, ge=1, le=MAX_PARTY_SIZE)]


class JoinBody(ApiModel):
    name: GuestName
    mobile_number: Annotated[str, StringConstraints(min_length=3, max_length=40)]
    party_size: PartySize
    idempotency_key: IdempotencyKey | None = None


class CallNextBody(ApiModel):
    max_party_size: PartySize | None = None


class EntryOut(ApiModel):
    id: uuid.UUID
    token_number: int
    status: Status
    position: int | None
    name: str
    party_size: int
    created_at: datetime
    called_at: datetime | None

    @classmethod
    def of(cls, entry: Entry) -> EntryOut:
        return cls(
            id=entry.id,
            token_number=entry.token_number,
            status=entry.status,
            position=entry.position,
            name=entry.name,
            party_size=entry.party_size,
            created_at=entry.created_at,
            called_at=entry.called_at,
        )


class StaffEntryOut(EntryOut):
    mobile_number: str

    @classmethod
    def of(cls, entry: Entry) -> StaffEntryOut:
        return cls(**EntryOut.of(entry).model_dump(), mobile_number=entry.mobile)


class StaffEntryList(ApiModel):
    entries: list[StaffEntryOut]


class QueueSummaryOut(ApiModel):
    slug: str
    name: str
    open: bool
    waiting_count: int
    now_serving: int | None

    @classmethod
    def of(cls, summary: QueueSummary) -> QueueSummaryOut:
        return cls(
            slug=summary.restaurant.slug,
            name=summary.restaurant.name,
            open=summary.restaurant.queue_open,
            waiting_count=summary.waiting_count,
            now_serving=summary.now_serving,
        )


class RestaurantOut(ApiModel):
    id: uuid.UUID
    slug: str
    name: str
    open: bool


StatusFilter = Literal["waiting", "called", "active", "all"]
