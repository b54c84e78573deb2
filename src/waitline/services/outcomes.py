"""What a use case did, told to whoever counts, logs or broadcasts it, once its transaction has ended.

Metrics, the ``queue.*`` log events and the change signals of the live pages are all fed from here, for the
API and the pages alike: nothing downstream guesses what happened from a route name or a status code.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from waitline.domain import (
    Entry,
    EntryNotFound,
    Event,
    RestaurantNotFound,
    ServiceUnavailable,
    TransitionNotAllowed,
    WaitlineError,
)
from waitline.ratelimit import RateLimited


@dataclass(frozen=True)
class Outcome:
    """One use case's result.

    ``action``: join, call_next, seat, no-show, cancel, leave, pause or resume. ``result``: for a join
    created, replayed, rejected, rate_limited or unavailable; for call-next called or empty; for the rest
    done, unchanged, conflict, not_found, rejected or unavailable. ``events``: what the log recorded (only
    after a commit).
    """

    action: str
    result: str
    restaurant_id: uuid.UUID | None = None
    entry: Entry | None = None
    events: tuple[Event, ...] = ()
    # More for the log line (a masked mobile number, a table size): never personal data in full.
    fields: Mapping[str, object] = field(default_factory=dict)


class Observer(Protocol):
    def observe(self, outcome: Outcome) -> None: ...


class Observers:
    """Tells each of several observers, in order."""

    def __init__(self, observers: Sequence[Observer]) -> None:
        self._observers = tuple(observers)

    def observe(self, outcome: Outcome) -> None:
        for observer in self._observers:
            observer.observe(outcome)


class Unobserved:
    """For the command line: nobody counts, logs or broadcasts."""

    def observe(self, outcome: Outcome) -> None:
        pass


def failure(error: WaitlineError) -> str:
    """The result a refused use case is counted as."""
    if isinstance(error, RateLimited):
        return "rate_limited"
    if isinstance(error, ServiceUnavailable):
        return "unavailable"
    if isinstance(error, TransitionNotAllowed):
        return "conflict"
    if isinstance(error, EntryNotFound | RestaurantNotFound):
        return "not_found"
    return "rejected"
