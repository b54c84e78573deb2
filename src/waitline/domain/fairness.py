"""Why someone went first: the parties called before a guest although they joined after, and why."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from waitline.domain.event import Event, EventType


@dataclass(frozen=True)
class Overtaking:
    """Parties called before this guest although they joined later, and the table sizes that let them."""

    tokens: tuple[int, ...]  # in the order they were called
    table_sizes: tuple[int, ...]  # the tables that came free, smallest first (none: no size was given)
    party_size: int


def overtaking(*, token_number: int, party_size: int, called: Iterable[Event]) -> Overtaking | None:
    """From the ``called`` events a guest saw while waiting: those that passed them, or None if none did.

    Tokens are handed out in join order, so a called token above the guest's joined after them.
    """
    passed = [
        event
        for event in called
        if event.type is EventType.CALLED and (event.token_number or 0) > token_number
    ]
    if not passed:
        return None
    sizes = sorted(
        {int(size) for event in passed if (size := event.details_map.get("table_size")) is not None}
    )
    return Overtaking(
        tokens=tuple(event.token_number or 0 for event in passed),
        table_sizes=tuple(sizes),
        party_size=party_size,
    )
