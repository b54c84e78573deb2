"""Sentences the pages say about the queue, built from values (the services hand over no words)."""

from __future__ import annotations

from collections.abc import Sequence

from waitline.domain import Overtaking, Status, TransitionNotAllowed

_STATUS_WORDS = {
    Status.WAITING: "still waiting",
    Status.CALLED: "called",
    Status.SEATED: "seated",
    Status.NO_SHOW: "marked as a no-show",
    Status.CANCELLED: "cancelled",
}
# Beyond this many, the rest of the parties that went first are counted, not named.
_NAMED_TOKENS = 4


def nothing_changed(error: TransitionNotAllowed) -> str:
    """What a refused button press is told: what the entry is now ("token 12 is already seated")."""
    if error.token_number is None or error.status is None:
        return error.detail
    return f"Nothing changed: token {error.token_number} is already {_STATUS_WORDS[Status(error.status)]}."


def _listed(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def overtaking(overtaken: Overtaking) -> str:
    """Why parties who came later went first, e.g. "#12 and #13 were called before you: tables for 2 came
    free, and your party is 6."."""
    named = [f"#{token}" for token in overtaken.tokens[:_NAMED_TOKENS]]
    more = len(overtaken.tokens) - len(named)
    if more:
        named.append(f"{more} more {'party' if more == 1 else 'parties'}")
    were = "was" if len(overtaken.tokens) == 1 else "were"
    sentence = f"{_listed(named)} {were} called before you"
    sizes = [str(size) for size in overtaken.table_sizes]
    if not sizes:
        return sentence + "."
    tables = "a table" if len(overtaken.tokens) == 1 else "tables"
    return f"{sentence}: {tables} for {_listed(sizes)} came free, and your party is {overtaken.party_size}."
