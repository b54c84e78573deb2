"""The default texts of the messages to guests, in each language a guest may read, and a text filled in for
its reader: the numbers in it written the way the reader's language writes them.

The message ids are the English texts, marked here for the catalogs (scripts/catalogs) and translated when a
message is sent, in the language its guest joined in. A restaurant's own text for a language (edited on the
texts page) replaces the default of that language only.
"""

from __future__ import annotations

from collections.abc import Mapping

from waitline import language
from waitline.domain.message import MessageKind, render
from waitline.language import N_

DEFAULT_TEXTS: Mapping[MessageKind, str] = {
    MessageKind.JOINED: N_(
        "{restaurant}: you're in the queue, {name}. Your number is {token}, position {position}. "
        "Follow it live: {link}"
    ),
    MessageKind.ALMOST_UP: N_(
        "{restaurant}: almost your turn, {name}! You are number {position} in line. {link}"
    ),
    MessageKind.TABLE_READY: N_(
        "{restaurant}: your table is ready, {name} (number {token}). Please come to the host stand. "
        "Reply 1 if you're on your way, C to cancel. {link}"
    ),
    MessageKind.REMINDER: N_(
        "{restaurant}: we're holding your table, {name} (number {token}). Reply 1 if you're on your way. "
        "{link}"
    ),
    MessageKind.NO_SHOW: N_(
        "{restaurant}: we couldn't hold your table any longer, {name}. You're welcome to join again: {link}"
    ),
    MessageKind.LEFT: N_("{restaurant}: you've left the queue, {name}. Hope to see you soon."),
    MessageKind.CANCELLED: N_("{restaurant}: your place in the queue (number {token}) was cancelled."),
}

# The subject of each message by email, and the title of its push (the body is the same text as the SMS).
SUBJECTS: Mapping[MessageKind, str] = {
    MessageKind.JOINED: N_("{restaurant}: you're in the queue"),
    MessageKind.ALMOST_UP: N_("{restaurant}: almost your turn"),
    MessageKind.TABLE_READY: N_("{restaurant}: your table is ready"),
    MessageKind.REMINDER: N_("{restaurant}: we're holding your table"),
    MessageKind.NO_SHOW: N_("{restaurant}: we couldn't hold your table"),
    MessageKind.LEFT: N_("{restaurant}: you've left the queue"),
    MessageKind.CANCELLED: N_("{restaurant}: your place was cancelled"),
}
# The placeholders that are numbers, written for the reader's language.
_NUMBERS = ("token", "position")


def default_text(kind: MessageKind, reader: str) -> str:
    """The default text of ``kind`` in the language ``reader`` (English when it has no catalog)."""
    return language.translate(reader, DEFAULT_TEXTS[kind])


def subject(kind: MessageKind, reader: str, *, restaurant: str) -> str:
    return render(language.translate(reader, SUBJECTS[kind]), {"restaurant": restaurant})


def fill(template: str, values: Mapping[str, object], reader: str) -> str:
    """``template`` with its placeholders filled in; numbers as the language ``reader`` writes them."""
    written = {
        key: language.number(value, reader) if key in _NUMBERS and isinstance(value, int) else value
        for key, value in values.items()
    }
    return render(template, written)
