"""Queue entries: their states, what may follow what, and a validated join."""

from __future__ import annotations

import enum
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from waitline.domain.rows import as_uuid, datetime_from_row, optional_datetime

MAX_PARTY_SIZE = 20
MAX_NAME_LENGTH = 80
MAX_IDEMPOTENCY_KEY_LENGTH = 255


class Status(enum.StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    SEATED = "seated"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = frozenset({Status.WAITING, Status.CALLED})


class Transition(enum.StrEnum):
    """A state change asked for by entry id (call-next is a claim, not one of these)."""

    SEAT = "seat"
    NO_SHOW = "no-show"
    CANCEL = "cancel"
    LEAVE = "leave"


@dataclass(frozen=True)
class TransitionRule:
    sources: frozenset[Status]
    target: Status


TRANSITIONS: Mapping[Transition, TransitionRule] = {
    Transition.SEAT: TransitionRule(frozenset({Status.CALLED}), Status.SEATED),
    Transition.NO_SHOW: TransitionRule(frozenset({Status.CALLED}), Status.NO_SHOW),
    Transition.CANCEL: TransitionRule(ACTIVE_STATUSES, Status.CANCELLED),
    Transition.LEAVE: TransitionRule(ACTIVE_STATUSES, Status.CANCELLED),
}


@dataclass(frozen=True)
class Entry:
    id: uuid.UUID
    restaurant_id: uuid.UUID
    token_number: int
    name: str
    mobile: str
    party_size: int
    status: Status
    position: int | None
    created_at: datetime
    called_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Entry:
        status = Status(row["status"])
        return cls(
            id=as_uuid(row["id"]),
            restaurant_id=as_uuid(row["restaurant_id"]),
            token_number=int(row["token_number"]),
            name=row["name"],
            mobile=row["mobile"],
            party_size=int(row["party_size"]),
            status=status,
            position=int(row["position"]) if status is Status.WAITING and row["position"] else None,
            created_at=datetime_from_row(row["created_at"]),
            called_at=optional_datetime(row["called_at"]),
            finished_at=optional_datetime(row["finished_at"]),
        )


@dataclass(frozen=True)
class EntryPage:
    """One page of a restaurant's entries in token order, and where the next page starts (None: the end)."""

    entries: tuple[Entry, ...]
    next_after: int | None


@dataclass(frozen=True)
class JoinRequest:
    """A validated join: the name is cleaned, the mobile is E.164."""

    slug: str
    name: str
    mobile: str
    party_size: int
    idempotency_key: str | None

    @property
    def fingerprint(self) -> str:
        """What must match for a replayed idempotency key to count as the same request."""
        body = json.dumps([self.name, self.mobile, self.party_size], ensure_ascii=False)
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class CalledToken:
    """A token that was called, for the "now serving" board: no personal data."""

    token_number: int
    status: Status
    called_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> CalledToken:
        return cls(
            token_number=int(row["token_number"]),
            status=Status(row["status"]),
            called_at=datetime_from_row(row["called_at"]),
        )
