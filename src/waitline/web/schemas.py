"""The API's JSON shapes (camelCase), kept apart from tables and domain values."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from waitline.domain import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PARTY_SIZE,
    Entry,
    Event,
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
    # Pass as ``after`` for the next page; null on the last page.
    next_after: int | None


class ActorOut(ApiModel):
    kind: str = Field(description="guest, staff, api_token or system")
    id: str | None = Field(description="the staff member's or API token's id; null for guests and the system")


class EventOut(ApiModel):
    seq: int
    type: str = Field(description="joined, called, seated, no_show, cancelled, left, paused, resumed, ...")
    entry_id: uuid.UUID | None
    token_number: int | None
    actor: ActorOut
    reason: str | None = Field(description="why the order was not first come, first served")
    details: dict[str, Any] | None
    at: datetime
    prev_hash: str
    hash: str = Field(description="sha256(prevHash || the event's canonical encoding), hex")

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(
            seq=event.seq,
            type=event.type.value,
            entry_id=event.entry_id,
            token_number=event.token_number,
            actor=ActorOut(kind=event.actor.kind.value, id=event.actor.id),
            reason=event.reason,
            details=dict(event.details_map) or None,
            at=event.at,
            prev_hash=event.prev_hash,
            hash=event.hash,
        )


class EventList(ApiModel):
    events: list[EventOut]
    # The last seq on this page, or ``after`` when the page is empty: where to resume.
    last_seq: int


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
