"""The event log against the final database: one event per change, none more, and every chain intact.

For each entry the database holds, its events (in seq order) must be exactly the changes its row shows:
`joined`; then `called` if it was ever called; then `seated`, `no_show`, or `left`/`cancelled` if it ended
so; each with the entry's token. An event whose entry is not in the database outlived a change that rolled
back (or was written by hand). And each restaurant's chain, walked by waitline's own ``verify`` (the
code behind ``waitline events verify``), must be whole: seqs 1..N without a gap, every hash matching.

Only the events after each restaurant's log head at the start of a history are judged (a call-next fill
empties the queues, and the log keeps the events of the guests it emptied out: that is what a log is for).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.checker import Row, _Findings

# What a finished entry's last event is, by its status (a cancelled entry was left by its guest or
# cancelled by staff).
_ENDINGS = {"seated": {"seated"}, "no_show": {"no_show"}, "cancelled": {"left", "cancelled"}}

ANOMALIES = ("broken_chains", "events_not_matching_changes", "events_without_entry")


@dataclass(frozen=True)
class LoggedEvent:
    restaurant: str
    seq: int
    type: str
    entry_id: str | None
    token: int | None


def expected_types(entry: Row) -> list[set[str]]:
    """The events the entry's row says it went through, in order (each a set of the types that fit)."""
    steps = [{"joined"}]
    if entry.called:
        steps.append({"called"})
    if entry.status in _ENDINGS:
        steps.append(_ENDINGS[entry.status])
    return steps


def check_events(
    rows: Sequence[Row],
    events: Sequence[LoggedEvent],
    broken_chains: Mapping[str, str],
    found: _Findings,
) -> None:
    """Adds what is wrong to ``found``."""
    for restaurant, problem in sorted(broken_chains.items()):
        found.add("broken_chains", f"{restaurant}: {problem}")
    by_entry: dict[str, list[LoggedEvent]] = defaultdict(list)
    for event in events:
        if event.entry_id is not None:
            by_entry[event.entry_id].append(event)
    for row in rows:
        logged = sorted(by_entry.pop(row.entry_id, []), key=lambda event: event.seq)
        expected = expected_types(row)
        fits = len(logged) == len(expected) and all(
            event.type in types and event.token == row.token
            for event, types in zip(logged, expected, strict=True)
        )
        if not fits:
            got = [f"{event.type} #{event.token} (seq {event.seq})" for event in logged]
            want = " then ".join("/".join(sorted(types)) for types in expected)
            found.add(
                "events_not_matching_changes",
                f"{row.entry_id} (#{row.token}, {row.status}): logged {got or 'nothing'}, expected {want}",
            )
    for entry_id, logged in by_entry.items():
        found.add(
            "events_without_entry",
            f"{entry_id}: {[f'{event.type} (seq {event.seq})' for event in logged]}, no such entry",
            len(logged),
        )
