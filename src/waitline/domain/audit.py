"""The audit trail's hash chain: each organisation's admin actions numbered 1, 2, 3, ... and sealed like the
queue's log (domain/event.py): ``hash = sha256(previous hash || netstrings of the action)``, so that an
entry changed, removed or inserted by hand breaks the chain at its seq (``AuditVerifier``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from waitline.domain.event import GENESIS_HASH, ChainBreak, chain_hash, epoch_micros, netstrings
from waitline.domain.rows import as_uuid, datetime_from_row, optional_uuid

# First field of every audit encoding: a later encoding can be told apart (and from the queue's).
AUDIT_ENCODING_VERSION = "audit-1"


@dataclass(frozen=True)
class AuditEntry:
    organisation_id: uuid.UUID
    seq: int
    restaurant_id: uuid.UUID | None
    actor: str
    action: str
    before: str | None  # JSON text as stored
    after: str | None
    at: datetime
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> AuditEntry:
        return cls(
            organisation_id=as_uuid(row["organisation_id"]),
            seq=int(row["seq"]),
            restaurant_id=optional_uuid(row["restaurant_id"]),
            actor=row["actor"],
            action=row["action"],
            before=row["before"],
            after=row["after"],
            at=datetime_from_row(row["created_at"]),
            prev_hash=row["prev_hash"],
            hash=row["hash"],
        )

    def expected_hash(self, prev_hash: str) -> str:
        return audit_hash(
            prev_hash,
            organisation_id=self.organisation_id,
            seq=self.seq,
            restaurant_id=self.restaurant_id,
            actor=self.actor,
            action=self.action,
            before=self.before,
            after=self.after,
            at=self.at,
        )


def audit_hash(
    prev_hash: str,
    *,
    organisation_id: uuid.UUID,
    seq: int,
    restaurant_id: uuid.UUID | None,
    actor: str,
    action: str,
    before: str | None,
    after: str | None,
    at: datetime,
) -> str:
    fields = (
        AUDIT_ENCODING_VERSION,
        str(organisation_id),
        str(seq),
        None if restaurant_id is None else str(restaurant_id),
        actor,
        action,
        before,
        after,
        str(epoch_micros(at)),
    )
    return chain_hash(prev_hash, netstrings(fields))


class AuditVerifier:
    """Walks one organisation's trail in seq order; ``feed`` each entry, then ``finish`` with the head the
    organisation row keeps (every append updates it in the same transaction)."""

    def __init__(self) -> None:
        self.checked = 0
        self._last_seq = 0
        self._last_hash = GENESIS_HASH
        self.broken: ChainBreak | None = None

    def feed(self, entry: AuditEntry) -> None:
        if self.broken is not None:
            return
        expected = self._last_seq + 1
        if entry.seq != expected:
            self.broken = ChainBreak(expected, f"seq {expected} is missing: an entry was removed")
        elif entry.prev_hash != self._last_hash or entry.expected_hash(self._last_hash) != entry.hash:
            self.broken = ChainBreak(entry.seq, f"seq {entry.seq} does not match its hash: it was changed")
        else:
            self.checked += 1
            self._last_seq, self._last_hash = entry.seq, entry.hash

    def finish(self, head_seq: int, head_hash: str) -> ChainBreak | None:
        if self.broken is None:
            if head_seq > self._last_seq:
                seq = self._last_seq + 1
                self.broken = ChainBreak(seq, f"seq {seq} is missing: an entry was removed")
            elif head_seq < self._last_seq:
                seq = head_seq + 1
                self.broken = ChainBreak(seq, f"seq {seq} was never appended: it was inserted by hand")
            elif head_hash != self._last_hash:
                self.broken = ChainBreak(head_seq, f"seq {head_seq} does not match its hash: it was changed")
        return self.broken
