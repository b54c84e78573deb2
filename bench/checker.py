"""A Jepsen-style ``total-queue`` checker for waitline: reads a history of operations and the final database,
and says what was lost, duplicated, unexpected or recovered.

The history holds every attempt the clients made (a phone retrying a join sends the same idempotency key
again, so one *logical* join is all the attempts with one key). Each attempt ends ``ok`` (the server
answered 2xx), ``fail`` (a 4xx: the server refused it, nothing happened) or ``unknown`` (no answer, a
timeout, a dropped connection or a 5xx: it may or may not have happened).

What counts, in Jepsen's words:

- **lost**: a join acknowledged to the guest (some attempt ``ok``) whose entry is not in the database, or
  is there under another id or token than the one acknowledged; also a call, seat, no-show or leave
  acknowledged whose effect the database does not show.
- **duplicated**: a party called twice (two ``ok`` call-nexts returned the same entry), an idempotency key
  with more than one entry, a token given twice in one restaurant.
- **unexpected**: an entry without any join attempt that was acknowledged or of unknown outcome (one that
  was refused, or never asked for); a call-next that returned an entry nobody joined; more called entries
  than calls that were acknowledged or of unknown outcome.
- **recovered**: a join of unknown outcome whose entry is in the database (the usual and correct result
  of a phone retrying: not an anomaly, counted for information).

Besides: tokens of each restaurant must be exactly 1..last_token (unique and contiguous), and every
idempotency key must map to one entry, in every acknowledgement and in the database. Where the schema has
the event log, it must hold one event per change the database shows, and each chain must verify
(``bench/eventcheck.py``).

Clients that cannot tell which request an error answered (wrk, for a 5xx or a socket timeout) record an
``unknown`` join or call with no key; each such attempt may account for one otherwise unexpected entry.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench import eventcheck
from bench.eventcheck import LoggedEvent, check_events

Outcome = Literal["ok", "fail", "unknown"]
Kind = Literal["join", "call_next", "seat", "no_show", "leave", "cancel", "poll", "dashboard"]

# What an acknowledged transition leaves in the database (nothing moves an entry on from these).
_FINAL_STATUS = {"seat": "seated", "no_show": "no_show", "leave": "cancelled", "cancel": "cancelled"}
_CALLED_STATUSES = {"called", "seated", "no_show"}

EXAMPLES = 5


@dataclass(frozen=True)
class Op:
    """One attempt: what was asked, how it ended, and what the answer said."""

    kind: Kind
    outcome: Outcome
    restaurant: str | None = None
    key: str | None = None
    entry_id: str | None = None
    token: int | None = None
    status: int | None = None
    invoked: float | None = None
    completed: float | None = None
    process: str | None = None
    instance: str | None = None

    def to_json(self) -> str:
        return json.dumps({name: value for name, value in asdict(self).items() if value is not None})

    @classmethod
    def from_json(cls, line: str) -> Op:
        return cls(**json.loads(line))


@dataclass(frozen=True)
class Row:
    """An entry as the database holds it at the end."""

    restaurant: str
    entry_id: str
    token: int
    status: str
    key: str | None
    called: bool = False


@dataclass(frozen=True)
class FinalState:
    rows: Sequence[Row]
    # Each restaurant's token counter (restaurants the history touched, at least).
    last_tokens: Mapping[str, int]
    # The event log's entries since the history began (None: a schema without the log, nothing to judge),
    # and what `verify` found wrong with each restaurant's chain.
    events: Sequence[LoggedEvent] | None = None
    broken_chains: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Verdict:
    valid: bool
    counts: dict[str, int]
    anomalies: dict[str, int]
    examples: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "counts": self.counts,
            "anomalies": self.anomalies,
            "examples": self.examples,
        }


ANOMALIES = (
    "lost",
    "lost_transitions",
    "duplicated_calls",
    "duplicated_keys",
    "duplicated_tokens",
    "token_gaps",
    "token_mismatches",
    "key_mapped_to_several_entries",
    "unexpected",
    "unexpected_calls",
)


class _Findings:
    def __init__(self, anomalies: Sequence[str]) -> None:
        self.anomalies: Counter[str] = Counter({name: 0 for name in anomalies})
        self.examples: dict[str, list[str]] = defaultdict(list)

    def add(self, anomaly: str, example: str, count: int = 1) -> None:
        self.anomalies[anomaly] += count
        if len(self.examples[anomaly]) < EXAMPLES:
            self.examples[anomaly].append(example)


def check(history: Iterable[Op], final: FinalState) -> Verdict:
    ops = list(history)
    found = _Findings(ANOMALIES + (eventcheck.ANOMALIES if final.events is not None else ()))
    rows_by_key: dict[tuple[str, str], list[Row]] = defaultdict(list)
    row_by_id: dict[str, Row] = {}
    for row in final.rows:
        row_by_id[row.entry_id] = row
        if row.key is not None:
            rows_by_key[(row.restaurant, row.key)].append(row)

    joins: dict[tuple[str, str], list[Op]] = defaultdict(list)
    anonymous_unknown_joins = 0
    for op in ops:
        if op.kind != "join":
            continue
        if op.key is None or op.restaurant is None:
            if op.outcome == "unknown":
                anonymous_unknown_joins += 1
            continue
        joins[(op.restaurant, op.key)].append(op)

    recovered = _check_joins(joins, rows_by_key, found)
    _check_database(final, joins, rows_by_key, anonymous_unknown_joins, found)
    called_ok = _check_calls(ops, row_by_id, final, found)
    _check_transitions(ops, row_by_id, found)
    if final.events is not None:
        check_events(final.rows, final.events, final.broken_chains, found)

    outcomes = Counter(_logical_outcome(attempts) for attempts in joins.values())
    retried = [
        attempts for attempts in joins.values() if len(attempts) > 1 and _logical_outcome(attempts) == "ok"
    ]
    counts = {
        "attempts": len(ops),
        "joins_acknowledged": outcomes["ok"],
        "joins_unknown": outcomes["unknown"],
        "joins_refused": outcomes["fail"],
        "joins_anonymous_unknown": anonymous_unknown_joins,
        "recovered": recovered,
        # Phones that retried and got their entry: answered 200 (a replay) when an earlier try had committed.
        "joins_retried": len(retried),
        "joins_replayed_after_retry": sum(
            1 for attempts in retried if any(a.status == 200 for a in attempts)
        ),
        "calls_acknowledged": called_ok,
        "entries_in_database": len(final.rows),
    }
    if final.events is not None:
        counts["events_judged"] = len(final.events)
    anomalies = dict(found.anomalies)
    return Verdict(
        valid=not any(anomalies.values()),
        counts=counts,
        anomalies=anomalies,
        examples={name: examples for name, examples in found.examples.items() if examples},
    )


def _logical_outcome(attempts: Sequence[Op]) -> Outcome:
    outcomes = {attempt.outcome for attempt in attempts}
    if "ok" in outcomes:
        return "ok"
    return "unknown" if "unknown" in outcomes else "fail"


def _check_joins(
    joins: Mapping[tuple[str, str], Sequence[Op]],
    rows_by_key: Mapping[tuple[str, str], Sequence[Row]],
    found: _Findings,
) -> int:
    """Acknowledged joins must be in the database as acknowledged; returns how many unknowns recovered."""
    recovered = 0
    for (restaurant, key), attempts in joins.items():
        acknowledged = [attempt for attempt in attempts if attempt.outcome == "ok"]
        rows = rows_by_key.get((restaurant, key), [])
        ids = {attempt.entry_id for attempt in acknowledged if attempt.entry_id is not None}
        if len(ids) > 1:
            found.add("key_mapped_to_several_entries", f"{key}: acknowledged as {sorted(ids)}")
        if not acknowledged:
            if rows and _logical_outcome(attempts) == "unknown":
                recovered += 1
            continue
        if not rows:
            found.add("lost", f"{key}: acknowledged as {sorted(ids) or 'an entry'}, not in the database")
            continue
        row = rows[0]
        if ids and row.entry_id not in ids:
            found.add("lost", f"{key}: acknowledged as {sorted(ids)}, the database has {row.entry_id}")
        tokens = {attempt.token for attempt in acknowledged if attempt.token is not None}
        if tokens and tokens != {row.token}:
            found.add(
                "token_mismatches", f"{key}: acknowledged token(s) {sorted(tokens)}, stored {row.token}"
            )
    return recovered


def _check_database(
    final: FinalState,
    joins: Mapping[tuple[str, str], Sequence[Op]],
    rows_by_key: Mapping[tuple[str, str], Sequence[Row]],
    anonymous_unknown_joins: int,
    found: _Findings,
) -> None:
    for (_, key), rows in rows_by_key.items():
        if len(rows) > 1:
            found.add("duplicated_keys", f"{key}: {len(rows)} entries", len(rows) - 1)
    tokens_by_restaurant: dict[str, list[int]] = defaultdict(list)
    for row in final.rows:
        tokens_by_restaurant[row.restaurant].append(row.token)
    for restaurant in sorted(set(tokens_by_restaurant) | set(final.last_tokens)):
        tokens = tokens_by_restaurant.get(restaurant, [])
        repeats = sum(count - 1 for count in Counter(tokens).values())
        if repeats:
            found.add("duplicated_tokens", f"{restaurant}: {repeats} token(s) given twice", repeats)
        last = final.last_tokens.get(restaurant, max(tokens, default=0))
        missing = set(range(1, last + 1)) - set(tokens)
        beyond = {token for token in tokens if token < 1 or token > last}
        if missing or beyond:
            found.add(
                "token_gaps",
                f"{restaurant}: counter at {last}, missing {sorted(missing)[:5]}, beyond "
                f"{sorted(beyond)[:5]}",
                len(missing) + len(beyond),
            )
    unexplained = [
        row
        for row in final.rows
        if row.key is None
        or (row.restaurant, row.key) not in joins
        or _logical_outcome(joins[(row.restaurant, row.key)]) == "fail"
    ]
    # A join whose answer could not be tied to its request may explain one entry each.
    excess = len(unexplained) - anonymous_unknown_joins
    if excess > 0:
        examples = ", ".join(f"{row.entry_id} (key {row.key})" for row in unexplained[:EXAMPLES])
        found.add(
            "unexpected", f"{excess} entries without an acknowledged or unknown join: {examples}", excess
        )


def _check_calls(ops: Sequence[Op], row_by_id: Mapping[str, Row], final: FinalState, found: _Findings) -> int:
    calls = [op for op in ops if op.kind == "call_next"]
    returned = Counter(op.entry_id for op in calls if op.outcome == "ok" and op.entry_id is not None)
    for entry_id, times in returned.items():
        if times > 1:
            found.add("duplicated_calls", f"{entry_id} called {times} times", times - 1)
        row = row_by_id.get(entry_id)
        if row is None:
            found.add("unexpected", f"call-next returned {entry_id}, which is not in the database")
        elif not (row.called or row.status in _CALLED_STATUSES):
            found.add("lost_transitions", f"{entry_id} was called (acknowledged) but is {row.status}")
    unknown_calls = sum(1 for op in calls if op.outcome == "unknown")
    called_rows = sum(1 for row in final.rows if row.called or row.status in _CALLED_STATUSES)
    excess = called_rows - len(returned) - unknown_calls
    if excess > 0:
        found.add(
            "unexpected_calls",
            f"{called_rows} entries called, {len(returned)} calls acknowledged, {unknown_calls} unknown",
            excess,
        )
    return sum(returned.values())


def _check_transitions(ops: Sequence[Op], row_by_id: Mapping[str, Row], found: _Findings) -> None:
    for op in ops:
        if op.kind not in _FINAL_STATUS or op.outcome != "ok" or op.entry_id is None:
            continue
        row = row_by_id.get(op.entry_id)
        expected = _FINAL_STATUS[op.kind]
        if row is None:
            found.add(
                "lost_transitions", f"{op.kind} of {op.entry_id} acknowledged; entry not in the database"
            )
        elif row.status != expected:
            found.add("lost_transitions", f"{op.kind} of {op.entry_id} acknowledged; it is {row.status}")


def write_history(path: Path, ops: Iterable[Op]) -> None:
    with path.open("w", encoding="utf-8") as output:
        for op in ops:
            output.write(op.to_json() + "\n")


def read_history(path: Path) -> list[Op]:
    return [Op.from_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
