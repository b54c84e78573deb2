"""Sentences the pages say about the queue, built from values (the services hand over no words), in the
guest's language (message ids are the English sentences; see waitline.language)."""

from __future__ import annotations

from collections.abc import Sequence

from waitline.domain import Overtaking, Status, TransitionNotAllowed
from waitline.language import ENGLISH, N_, listed, number, translate, translate_plural
from waitline.wait_estimate import WaitEstimate

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
    """What a refused button press is told (staff pages, English): what the entry is now."""
    if error.token_number is None or error.status is None:
        return error.detail
    return f"Nothing changed: token {error.token_number} is already {_STATUS_WORDS[Status(error.status)]}."


def ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def place(position: int, language: str) -> str:
    """A place in line: "2nd" in English; the number, written for the language, in the others (their
    sentences say "number 2")."""
    return ordinal(position) if language == ENGLISH else number(position, language)


def wait(estimate: WaitEstimate, language: str) -> str:
    """ "any minute now", "about 5 min", "10-16 min" (with an en dash), "about 25-35 min" when calibrated."""
    low, high = estimate.low_minutes, estimate.high_minutes
    if high <= 2:
        return translate(language, "any minute now")
    if low == high:
        return translate_plural(language, "about %(num)s min", "about %(num)s min", high)
    low_text = number(low, language)
    if estimate.calibrated:  # learnt from the location's own history
        return translate_plural(
            language, "about %(low)s–%(num)s min", "about %(low)s–%(num)s min", high, low=low_text
        )
    return translate_plural(language, "%(low)s–%(num)s min", "%(low)s–%(num)s min", high, low=low_text)


def _listed(items: Sequence[str], language: str) -> str:
    """ "#12, #13 and #14"; the other languages join a list as CLDR says ("#12, #13 y #14")."""
    if language != ENGLISH:
        return listed(items, language)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def overtaking(overtaken: Overtaking, language: str = ENGLISH) -> str:
    """Why parties who came later went first, e.g. "#12 and #13 were called before you: tables for 2 came
    free, and your party is 6."."""
    named = [f"#{number(token, language)}" for token in overtaken.tokens[:_NAMED_TOKENS]]
    more = len(overtaken.tokens) - len(named)
    if more:
        named.append(translate_plural(language, "%(num)s more party", "%(num)s more parties", more))
    tokens = _listed(named, language)
    count = len(overtaken.tokens)
    if not overtaken.table_sizes:
        return translate_plural(
            language,
            "%(tokens)s was called before you.",
            "%(tokens)s were called before you.",
            count,
            tokens=tokens,
        )
    return translate_plural(
        language,
        "%(tokens)s was called before you: a table for %(sizes)s came free, and your party is %(party)s.",
        "%(tokens)s were called before you: tables for %(sizes)s came free, and your party is %(party)s.",
        count,
        tokens=tokens,
        sizes=_listed([number(size, language) for size in overtaken.table_sizes], language),
        party=number(overtaken.party_size, language),
    )


# The domain's messages (their docstrings, English) that a guest can read on a page: marked here so that
# the catalogs hold them; pages translate ``error.detail``. tests/test_languages.py checks that this list
# follows the domain's wording.
GUEST_ERRORS = (
    N_("The mobile number is not a valid phone number."),
    N_("Give the mobile number in international form, starting with + and the country code."),
    N_("This mobile number already has a place in this queue: use the link from that join to follow it."),
    N_("Too many joins from this device or number; please wait a moment."),
    N_("The request holds characters or values that cannot be stored (for example a NUL character)."),
    N_("The queue's database is not answering right now; please try again in a moment."),
    N_("This form has expired or did not come from this site. Please reload the page and try again."),
    N_("This queue is not taking new guests right now."),
)
