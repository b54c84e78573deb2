"""Coalesced joins on PostgreSQL: several joins of ONE restaurant in one statement, ``waitline_join_batch``
(store/sql/), and each join's own outcome out of it (an entry, or the error the join alone would raise).

Batching them is services/join_batching.py's; what one join decides is the same as ``store.joins``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain import JoinRequest, RestaurantNotFound
from waitline.ratelimit import LimitCheck
from waitline.store.constraints import domain_error, error_for_constraint
from waitline.store.driver import fetch_rows
from waitline.store.engine import error_for_sqlstate
from waitline.store.joins import JoinOutcome, outcome_of_row
from waitline.store.statement import Statement

_JOIN_BATCH = Statement(
    """
    SELECT * FROM waitline_join_batch(
        :slug, CAST(:entry_ids AS uuid[]), :names, :mobiles, :party_sizes, :idempotency_keys, :fingerprints,
        :nows, :limit_counts, :limit_keys, :limit_intervals, :limit_tolerances
    )
    """
)


@dataclass(frozen=True)
class BatchedJoin:
    request: JoinRequest
    limit_checks: Sequence[LimitCheck]
    now: float

    @property
    def fingerprint(self) -> str | None:
        return self.request.fingerprint if self.request.idempotency_key else None


class JoinFailedInBatch(Exception):
    """A join's own statement failed inside its batch for a reason no domain error names (a 500, as alone)."""


async def join_batch(
    *, connection: AsyncConnection, slug: str, joins: Sequence[BatchedJoin]
) -> list[JoinOutcome | Exception]:
    """Each join's outcome, in order: its JoinOutcome, or the exception the join alone would have raised.

    All the joins are of the restaurant ``slug``; they commit together, with the statement.
    """
    checks = [check for join in joins for check in join.limit_checks]
    params: dict[str, Any] = {
        "slug": slug,
        "entry_ids": [str(uuid.uuid4()) for _ in joins],
        "names": [join.request.name for join in joins],
        "mobiles": [join.request.mobile for join in joins],
        "party_sizes": [join.request.party_size for join in joins],
        "idempotency_keys": [join.request.idempotency_key for join in joins],
        "fingerprints": [join.fingerprint for join in joins],
        "nows": [join.now for join in joins],
        "limit_counts": [len(join.limit_checks) for join in joins],
        "limit_keys": [check.key for check in checks],
        "limit_intervals": [check.policy.interval for check in checks],
        "limit_tolerances": [check.policy.tolerance for check in checks],
    }
    try:
        rows = await fetch_rows(connection, _JOIN_BATCH, params)
    except IntegrityError as error:  # each join's own failures are caught inside: this is the batch's
        raise domain_error(error) from None
    if not rows:
        return [RestaurantNotFound() for _ in joins]
    by_ordinal = {row["ordinal"]: row for row in rows}
    return [_outcome(by_ordinal[index + 1], join) for index, join in enumerate(joins)]


def _outcome(row: Mapping[str, Any], join: BatchedJoin) -> JoinOutcome | Exception:
    if row["outcome"] == "failed":
        state = row["error_state"] or ""
        return (
            error_for_constraint(row["error_constraint"])
            or error_for_sqlstate(state)
            or JoinFailedInBatch(f"SQLSTATE {state}")
        )
    try:
        return outcome_of_row(row, join.limit_checks, now=join.now, fingerprint=join.fingerprint)
    except Exception as refusal:  # the join's own refusal (full, already queued, rate limited...)
        return refusal
