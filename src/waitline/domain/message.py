"""Messages to guests: their kinds, default texts with placeholders, and what a provider answered.

A message is written to the outbox by the event that causes it (store/sql/waitline_enqueue_messages.sql),
and its text is rendered when it is sent, from the restaurant's text for its kind in the guest's language (or
the default of that language: waitline/message_texts.py).
"""

from __future__ import annotations

import enum
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from waitline.domain.rows import as_uuid, datetime_from_row


class MessageKind(enum.StrEnum):
    JOINED = "joined"
    ALMOST_UP = "almost_up"
    TABLE_READY = "table_ready"
    REMINDER = "reminder"
    NO_SHOW = "no_show"
    LEFT = "left"
    CANCELLED = "cancelled"


class MessageState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"


PLACEHOLDERS = ("name", "token", "position", "restaurant", "link")


class _Only(string.Formatter):
    def get_value(self, key: int | str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, int) or key not in kwargs:
            return "{" + str(key) + "}"  # an unknown placeholder stays as written
        return kwargs[key]

    def format_field(self, value: Any, format_spec: str) -> str:
        return str(value)


def render(template: str, values: Mapping[str, object]) -> str:
    """``template`` with each known ``{placeholder}`` filled in; anything else is left as written."""
    try:
        return _Only().vformat(template, (), {k: v for k, v in values.items() if k in PLACEHOLDERS})
    except (ValueError, IndexError, KeyError, AttributeError):
        return template  # unbalanced braces: the text as the restaurant wrote it


@dataclass(frozen=True)
class Message:
    """An outbox row that a worker holds (``claim``), with what its text needs."""

    id: int
    restaurant_id: uuid.UUID
    entry_id: uuid.UUID
    kind: MessageKind
    channel: str
    recipient: str
    attempts: int
    created_at: datetime
    in_doubt_since: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Message:
        return cls(
            id=int(row["id"]),
            restaurant_id=as_uuid(row["restaurant_id"]),
            entry_id=as_uuid(row["entry_id"]),
            kind=MessageKind(row["kind"]),
            channel=row["channel"],
            recipient=row["recipient"],
            attempts=int(row["attempts"]),
            created_at=datetime_from_row(row["created_at"]),
            in_doubt_since=None
            if row["in_doubt_since"] is None
            else datetime_from_row(row["in_doubt_since"]),
        )


@dataclass(frozen=True)
class MessageRecord:
    """What staff see of one message on a party's row."""

    id: int
    kind: MessageKind
    channel: str
    state: MessageState
    attempts: int
    reason: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> MessageRecord:
        return cls(
            id=int(row["id"]),
            kind=MessageKind(row["kind"]),
            channel=row["channel"],
            state=MessageState(row["state"]),
            attempts=int(row["attempts"]),
            reason=row["reason"],
            created_at=datetime_from_row(row["created_at"]),
        )


# What a provider answered to one send.
@dataclass(frozen=True)
class Accepted:
    provider_id: str


@dataclass(frozen=True)
class TryLater:
    """5xx, 429, a timeout or no connection: try again, after ``after_seconds`` if the provider said so."""

    reason: str
    after_seconds: float | None = None
    # The request may have reached the provider (a timeout): ask it before sending again.
    maybe_sent: bool = False


@dataclass(frozen=True)
class Refused:
    """The provider will never take this message (a bad number, a blocked recipient): failed for good."""

    reason: str


SendResult = Accepted | TryLater | Refused


@dataclass(frozen=True)
class NoticePolicy:
    """A restaurant's choices: the hold window after a call, automatic no-shows, the "almost up" position."""

    hold_minutes: int  # 0: no hold window (no reminder, no expiry)
    auto_no_show: bool
    almost_up: int  # 0: never
