"""The event log's vocabulary: what happened to a queue, who did it, and the hash chain that seals the order.

Every change of a restaurant's queue is recorded as one ``Event`` in the same transaction as the change. Per
restaurant, events are numbered 1, 2, 3, ... without gaps (``seq``), and each carries
``hash = sha256(previous hash || canonical encoding of the event)``, so that an event changed, removed or
inserted by hand breaks the chain at that seq (``ChainVerifier``).

The canonical encoding is a list of netstrings (``<byte length>:<utf-8 bytes>,``, or ``-,`` for NULL), the
same in Python and in the PL/pgSQL function ``waitline_event_hash``: no JSON escaping or float formatting to
agree on. Times enter as whole microseconds since the epoch.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from waitline.domain.entry import Transition
from waitline.domain.rows import as_uuid, datetime_from_row, optional_uuid

# The hash a restaurant's first event chains onto.
GENESIS_HASH = "0" * 64
# First field of every canonical encoding: a later encoding can be told apart.
ENCODING_VERSION = "1"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class EventType(enum.StrEnum):
    JOINED = "joined"
    CALLED = "called"
    SEATED = "seated"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"  # by staff
    LEFT = "left"  # the guest left
    PAUSED = "paused"
    RESUMED = "resumed"
    # Replies by text (issue 9): the guest confirmed ("on my way"), is running late, wrote something else
    # (details: the text), or stopped or restarted messages from this restaurant.
    CONFIRMED = "confirmed"
    LATE = "late"
    REPLIED = "replied"
    OPTED_OUT = "opted_out"
    OPTED_IN = "opted_in"


# What each transition asked for by entry id is recorded as.
TRANSITION_EVENTS: Mapping[Transition, EventType] = {
    Transition.SEAT: EventType.SEATED,
    Transition.NO_SHOW: EventType.NO_SHOW,
    Transition.CANCEL: EventType.CANCELLED,
    Transition.LEAVE: EventType.LEFT,
}


class ActorKind(enum.StrEnum):
    GUEST = "guest"
    STAFF = "staff"  # a signed-in staff member (the id is theirs)
    API_TOKEN = "api_token"  # noqa: S105 (a kind of actor, not a secret): a staff API token (the id is the token's, never its secret)
    SYSTEM = "system"
    OWNER = "owner"  # an owner of the organisation (the id is theirs)


@dataclass(frozen=True)
class Actor:
    """Who made a change. Guests are anonymous: the entry they act on says who they are."""

    kind: ActorKind
    id: str | None = None

    @classmethod
    def staff(cls, staff_id: uuid.UUID) -> Actor:
        return cls(ActorKind.STAFF, str(staff_id))

    @classmethod
    def api_token(cls, token_id: uuid.UUID) -> Actor:
        return cls(ActorKind.API_TOKEN, str(token_id))

    @classmethod
    def owner(cls, owner_id: uuid.UUID) -> Actor:
        return cls(ActorKind.OWNER, str(owner_id))


GUEST = Actor(ActorKind.GUEST)
SYSTEM = Actor(ActorKind.SYSTEM)


@dataclass(frozen=True)
class EventDraft:
    """An event before the log has numbered, timed and sealed it."""

    type: EventType
    actor: Actor
    entry_id: uuid.UUID | None = None
    token_number: int | None = None
    # Why the order was not plain first come, first served (English, for people reading the log).
    reason: str | None = None
    details: Mapping[str, Any] | None = None


def encode_details(details: Mapping[str, Any] | None) -> str | None:
    """Details as they are stored and hashed: compact JSON with sorted keys."""
    if not details:
        return None
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def epoch_micros(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def _netstring(value: str | None) -> bytes:
    if value is None:
        return b"-,"
    data = value.encode()
    return str(len(data)).encode() + b":" + data + b","


def canonical_encoding(
    *,
    restaurant_id: uuid.UUID,
    seq: int,
    type: str,
    entry_id: uuid.UUID | None,
    token_number: int | None,
    actor_kind: str,
    actor_id: str | None,
    reason: str | None,
    details: str | None,
    at: datetime,
) -> bytes:
    fields = (
        ENCODING_VERSION,
        str(restaurant_id),
        str(seq),
        type,
        None if entry_id is None else str(entry_id),
        None if token_number is None else str(token_number),
        actor_kind,
        actor_id,
        reason,
        details,
        str(epoch_micros(at)),
    )
    return netstrings(fields)


def netstrings(fields: Iterable[str | None]) -> bytes:
    return b"".join(_netstring(field) for field in fields)


def chain_hash(prev_hash: str, encoding: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + encoding).hexdigest()


@dataclass(frozen=True)
class Event:
    restaurant_id: uuid.UUID
    seq: int
    type: EventType
    entry_id: uuid.UUID | None
    token_number: int | None
    actor: Actor
    reason: str | None
    details: str | None  # as stored and hashed (see encode_details)
    at: datetime
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Event:
        return cls(
            restaurant_id=as_uuid(row["restaurant_id"]),
            seq=int(row["seq"]),
            type=EventType(row["type"]),
            entry_id=optional_uuid(row["entry_id"]),
            token_number=None if row["token_number"] is None else int(row["token_number"]),
            actor=Actor(ActorKind(row["actor_kind"]), row["actor_id"]),
            reason=row["reason"],
            details=row["details"],
            at=datetime_from_row(row["at"]),
            prev_hash=row["prev_hash"],
            hash=row["hash"],
        )

    @classmethod
    def recorded(
        cls,
        draft: EventDraft,
        *,
        restaurant_id: uuid.UUID,
        seq: int,
        at: datetime,
        prev_hash: str,
        hash: str | None = None,
    ) -> Event:
        """``draft`` as the log recorded it: numbered ``seq``, timed ``at``, chained onto ``prev_hash``.

        Without ``hash`` (the log's own), it is computed here: this is how SQLite's log seals an event.
        """
        event = cls(
            restaurant_id=restaurant_id,
            seq=seq,
            type=draft.type,
            entry_id=draft.entry_id,
            token_number=draft.token_number,
            actor=draft.actor,
            reason=draft.reason,
            details=encode_details(draft.details),
            at=at,
            prev_hash=prev_hash,
            hash=hash or "",
        )
        return event if hash else dataclasses.replace(event, hash=event.expected_hash(prev_hash))

    def canonical(self) -> bytes:
        return canonical_encoding(
            restaurant_id=self.restaurant_id,
            seq=self.seq,
            type=self.type.value,
            entry_id=self.entry_id,
            token_number=self.token_number,
            actor_kind=self.actor.kind.value,
            actor_id=self.actor.id,
            reason=self.reason,
            details=self.details,
            at=self.at,
        )

    def expected_hash(self, prev_hash: str) -> str:
        return chain_hash(prev_hash, self.canonical())

    @property
    def details_map(self) -> Mapping[str, Any]:
        return json.loads(self.details) if self.details else {}


@dataclass(frozen=True)
class ChainHead:
    """Where a restaurant's log ends, as its counter row says: the last seq handed out and its hash."""

    seq: int
    hash: str


@dataclass(frozen=True)
class ChainBreak:
    """The first seq at which the log is not what the chain says it was."""

    seq: int
    problem: str


class ChainVerifier:
    """Walks one restaurant's log in seq order; ``feed`` each event, then ``finish`` with the head."""

    def __init__(self) -> None:
        self.checked = 0
        self._last_seq = 0
        self._last_hash = GENESIS_HASH
        self.broken: ChainBreak | None = None

    def feed(self, event: Event) -> ChainBreak | None:
        if self.broken is not None:
            return self.broken
        expected = self._last_seq + 1
        if event.seq != expected:
            self.broken = ChainBreak(expected, f"seq {expected} is missing: an event was removed")
        elif event.prev_hash != self._last_hash or event.expected_hash(self._last_hash) != event.hash:
            self.broken = ChainBreak(event.seq, f"seq {event.seq} does not match its hash: it was changed")
        else:
            self.checked += 1
            self._last_seq, self._last_hash = event.seq, event.hash
        return self.broken

    def finish(self, head: ChainHead, *, beyond: int | None) -> ChainBreak | None:
        """Checks the log's end against the counter row, which every append updates in the same transaction.

        ``beyond``: the lowest seq stored above the head (read in the same snapshot as the head), if any.
        """
        if self.broken is None:
            if head.seq > self._last_seq:
                seq = self._last_seq + 1
                self.broken = ChainBreak(seq, f"seq {seq} is missing: an event was removed")
            elif head.hash != self._last_hash:
                self.broken = ChainBreak(head.seq, f"seq {head.seq} does not match its hash: it was changed")
            elif beyond is not None:
                self.broken = ChainBreak(beyond, f"seq {beyond} was never appended: it was inserted by hand")
        return self.broken
