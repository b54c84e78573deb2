"""The API's JSON shapes (camelCase), kept apart from tables and domain values."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from waitline import mail
from waitline.domain import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PARTY_SIZE,
    Entry,
    Event,
    QueueSummary,
    Status,
)
from waitline.language import LANGUAGES


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


# Letters and symbols that draw nothing: the Hangul fillers (Lo) and the blank Braille pattern (So).
BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Combining marks on one character. NFC composes most accented letters into one code point; the most that
# real names then put on a letter is three or four (Vietnamese "ệ" with a tone, pointed Hebrew, Indic nukta +
# vowel sign + nasal, Tibetan stacks). Dozens of them ("Zalgo" text) spill over the lines around the name.
MAX_MARKS_PER_CHARACTER = 4


def _visible(char: str) -> bool:
    """A letter, digit, punctuation or symbol that draws something; not a mark, space or blank filler."""
    return unicodedata.category(char)[0] in "LNPS" and char not in BLANK_CHARACTERS


def _check_marks(value: str) -> None:
    marks = 0
    previous_visible = False
    for char in value:
        if unicodedata.category(char)[0] != "M":
            marks, previous_visible = 0, _visible(char)
            continue
        marks += 1
        if not previous_visible:
            raise ValueError("an accent or other combining mark must follow a letter")
        if marks > MAX_MARKS_PER_CHARACTER:
            raise ValueError(f"must have at most {MAX_MARKS_PER_CHARACTER} combining marks on one letter")


def _clean_name(value: str) -> str:
    """NFC, trimmed, inner runs of white space folded; no control or invisible format characters; at least
    one visible character, and every combining mark on one (a few at most)."""
    value = " ".join(unicodedata.normalize("NFC", value).split())
    if any(unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn"} for char in value):
        raise ValueError("must not contain control or invisible characters")
    if not any(_visible(char) for char in value):
        raise ValueError("must contain at least one visible character")
    _check_marks(value)
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"must be at most {MAX_NAME_LENGTH} characters")
    return value


# The length is checked as sent, as the OpenAPI document says it (JSON Schema counts code points), then again
# once trimmed, folded and composed.
GuestName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH),
    AfterValidator(_clean_name),
    Field(
        description=f"1-{MAX_NAME_LENGTH} characters in any script, at least one of them visible; "
        "white space is trimmed and folded",
        examples=["Ada Lovelace"],
    ),
]
MobileNumber = Annotated[
    str,
    StringConstraints(min_length=3, max_length=40),
    Field(
        description="A mobile number: international (+…), or national in the restaurant's region",
        examples=["+14155550101", "07911 123456"],
    ),
]


def _email_address(value: str) -> str:
    value = value.strip()
    if not mail.valid_address(value):
        raise ValueError("must be an email address such as ada@example.com")
    return value


EmailAddress = Annotated[
    str,
    StringConstraints(min_length=3, max_length=mail.MAX_ADDRESS),
    AfterValidator(_email_address),
    Field(description="Optional: messages go by email too", examples=["ada@example.com"]),
]
# Printable ASCII, as HTTP header values can carry it unchanged.
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_IDEMPOTENCY_KEY_LENGTH, pattern=r"^[\x21-\x7e]+$")
]


def _whole_number(value: object) -> object:
    """JSON Schema's "integer": 4 and 4.0 alike (RFC 8259 numbers have no types); never "4", 4.5 or true."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


PartySize = Annotated[
    int, Field(strict=True, ge=1, le=MAX_PARTY_SIZE, examples=[2]), BeforeValidator(_whole_number)
]


GuestLanguage = Annotated[
    Literal["en", "es", "fr", "de", "pt", "ar"],
    Field(
        description="Optional: the language the guest's messages are written in (default: the location's)",
        examples=["es"],
    ),
]


assert get_args(get_args(GuestLanguage)[0]) == LANGUAGES, "the API's languages are language.LANGUAGES"


class JoinBody(ApiModel):
    name: GuestName
    mobile_number: MobileNumber
    party_size: PartySize
    idempotency_key: IdempotencyKey | None = None
    email: EmailAddress | None = None
    language: GuestLanguage | None = None


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
