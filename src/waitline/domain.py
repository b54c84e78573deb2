"""The queue's vocabulary: entries, restaurants, their states and what may follow what.

Imports nothing of waitline's and no adapter (enforced by import-linter); the store builds these
values from rows, the services act on them, the web layer renders them.
"""

from __future__ import annotations

import enum
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


def datetime_from_row(value: datetime | str) -> datetime:
    """A timestamp as read from either database: PostgreSQL hands back datetimes, SQLite ISO-8601 text."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _as_datetime(value: Any) -> datetime | None:
    return None if value is None else datetime_from_row(value)


def _as_uuid(value: Any) -> uuid.UUID:
    return value if type(value) is uuid.UUID else uuid.UUID(str(value))


@dataclass(frozen=True)
class Restaurant:
    id: uuid.UUID
    slug: str
    name: str
    queue_open: bool
    default_region: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Restaurant:
        created_at = _as_datetime(row["created_at"])
        assert created_at is not None
        return cls(
            id=_as_uuid(row["id"]),
            slug=row["slug"],
            name=row["name"],
            queue_open=bool(row["queue_open"]),
            default_region=row["default_region"],
            created_at=created_at,
        )


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
        created_at = _as_datetime(row["created_at"])
        assert created_at is not None
        status = Status(row["status"])
        return cls(
            id=_as_uuid(row["id"]),
            restaurant_id=_as_uuid(row["restaurant_id"]),
            token_number=int(row["token_number"]),
            name=row["name"],
            mobile=row["mobile"],
            party_size=int(row["party_size"]),
            status=status,
            position=int(row["position"]) if status is Status.WAITING and row["position"] else None,
            created_at=created_at,
            called_at=_as_datetime(row["called_at"]),
            finished_at=_as_datetime(row["finished_at"]),
        )


@dataclass(frozen=True)
class QueueSummary:
    """What anyone may see about a restaurant's queue: no personal data."""

    restaurant: Restaurant
    waiting_count: int
    now_serving: int | None


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


class WaitlineError(Exception):
    """Base of every domain error; the docstring is the message shown to the client."""

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or (self.__doc__ or "").strip()
        super().__init__(self.detail)


class RestaurantNotFound(WaitlineError):
    """No restaurant has this address."""


class EntryNotFound(WaitlineError):
    """No queue entry has this id at this restaurant."""


class QueueClosed(WaitlineError):
    """This queue is not taking new guests right now."""


class TransitionNotAllowed(WaitlineError):
    """This entry's status does not allow that action (someone may have acted on it first)."""


class IdempotencyKeyReused(WaitlineError):
    """This idempotency key was already used for a different request."""


class SlugTaken(WaitlineError):
    """A restaurant with this slug already exists."""


class InvalidMobileNumber(WaitlineError):
    """The mobile number is not a valid phone number."""


class UnstorableInput(WaitlineError):
    """The request holds characters or values that cannot be stored (for example a NUL character)."""


class ServiceUnavailable(WaitlineError):
    """The queue's database is not answering right now; please try again in a moment."""


class NotAuthenticated(WaitlineError):
    """A valid staff token is required (Authorization: Bearer <token>)."""


class NotPermitted(WaitlineError):
    """This staff token belongs to another restaurant."""


SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"


class AlreadyInQueue(WaitlineError):
    """This mobile number already has a place in this queue: use the link from that join to follow it."""


# Paths the web app serves at the top level; a restaurant cannot take one of these as its slug.
RESERVED_SLUGS = frozenset({"api", "staff", "static", "docs", "redoc", "openapi.json", "healthz", "readyz"})

MAX_EMAIL_LENGTH = 254
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True)
class StaffMember:
    id: uuid.UUID
    restaurant_id: uuid.UUID
    email: str

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> StaffMember:
        return cls(id=_as_uuid(row["id"]), restaurant_id=_as_uuid(row["restaurant_id"]), email=row["email"])


@dataclass(frozen=True)
class StaffSession:
    """A signed-in staff member and the restaurant they work for."""

    staff: StaffMember
    restaurant: Restaurant


@dataclass(frozen=True)
class LoginAttempt:
    """A login attempt let through by the throttle: its number among consecutive failures so far."""

    number: int


@dataclass(frozen=True)
class DayCounts:
    """What happened in a restaurant's queue since the day began."""

    joined: int
    called: int
    seated: int
    no_shows: int
    cancelled: int

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> DayCounts:
        return cls(
            joined=int(row["joined"] or 0),
            called=int(row["called"] or 0),
            seated=int(row["seated"] or 0),
            no_shows=int(row["no_shows"] or 0),
            cancelled=int(row["cancelled"] or 0),
        )


@dataclass(frozen=True)
class CalledToken:
    """A token that was called, for the "now serving" board: no personal data."""

    token_number: int
    status: Status
    called_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> CalledToken:
        called_at = _as_datetime(row["called_at"])
        assert called_at is not None
        return cls(token_number=int(row["token_number"]), status=Status(row["status"]), called_at=called_at)


def normalise_email(raw: str) -> str:
    return raw.strip().lower()


class LoginFailed(WaitlineError):
    """That email and password do not match a staff account of this restaurant."""


class LoginThrottled(WaitlineError):
    """Too many failed sign-in attempts for this email. Please wait a few minutes and try again."""

    def __init__(self, *, retry_after_seconds: int) -> None:
        minutes = max(1, -(-retry_after_seconds // 60))
        super().__init__(
            "Too many failed sign-in attempts for this email. "
            f"Please try again in {minutes} minute{'s' if minutes > 1 else ''}."
        )
        self.retry_after_seconds = retry_after_seconds


class QueueChanged(WaitlineError):
    """Another device called a party first; the list now shows who. Press again to call the next one."""


class StaffExists(WaitlineError):
    """A staff account with this email already exists for this restaurant."""


class PasswordUnacceptable(WaitlineError):
    """Passwords must be 10 to 1024 characters long."""
