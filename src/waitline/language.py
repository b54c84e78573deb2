"""The languages guests read: which one a request gets, the gettext catalogs, and numbers, times and lists
written the way that language writes them (Babel, from CLDR).

Nothing here knows about the web: the pages, and the notification texts, translate through ``translate``
and ``translate_plural`` with a language code. Message ids are the English sentences; English needs no
catalog. Catalogs live in ``locales/<language>/LC_MESSAGES/messages.po`` (compiled ``.mo`` beside them);
see the README's "Languages" section for how to add a language or update the catalogs.
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Sequence
from datetime import datetime, tzinfo
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.dates import format_skeleton, format_time
from babel.lists import format_list
from babel.numbers import format_decimal

ENGLISH = "en"
# The languages a guest may read; English first (the fallback). Adding one: see the README.
LANGUAGES = (ENGLISH, "es", "fr", "de", "pt", "ar")
NAMES = {code: Locale.parse(code).get_display_name(code) or code for code in LANGUAGES}
LOCALE_DIRECTORY = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"


def N_(message: str) -> str:
    """Marks ``message`` for the catalogs where it is defined; it is translated where it is shown."""
    return message


def supported(code: str | None) -> str | None:
    """``code`` as one of LANGUAGES ("pt-BR" -> "pt"), or None."""
    if not code:
        return None
    language = code.strip().replace("_", "-").split("-")[0].lower()
    return language if language in LANGUAGES else None


def accepted(header: str | None) -> list[str]:
    """The languages of an Accept-Language header, most wanted first (RFC 9110 12.5.4); q=0 and * left out."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")[:32]):
        tag, _, parameters = part.strip().partition(";")
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        tag = tag.strip()
        if tag and tag != "*" and quality > 0 and len(tag) <= 35:
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def choose(
    *,
    chosen: str | None = None,
    accept_language: str | None = None,
    location_default: str | None = None,
) -> str:
    """The language of a page: the guest's own choice (the switch), else the browser's (Accept-Language,
    matched by Babel's ``negotiate_locale``), else the location's default, else English."""
    return (
        guest_choice(chosen=chosen, accept_language=accept_language) or supported(location_default) or ENGLISH
    )


def guest_choice(*, chosen: str | None = None, accept_language: str | None = None) -> str | None:
    """The language the guest asked for (the switch, else the browser's), or None when neither is one of
    LANGUAGES."""
    if language := supported(chosen):
        return language
    return supported(negotiate_locale(accepted(accept_language), LANGUAGES, sep="-"))


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog of ``language`` (English: none, the message ids are English)."""
    if supported(language) in (None, ENGLISH):
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIRECTORY, languages=[language])


def translate(language: str, message: str, **values: object) -> str:
    """``message`` (an English message id) in ``language``, with ``%(name)s`` placeholders filled in."""
    text = translations(language).gettext(message)
    return text % values if values else text


def translate_plural(language: str, singular: str, plural: str, count: int, **values: object) -> str:
    """The form of ``singular``/``plural`` that ``count`` takes in ``language`` (Arabic has six);
    ``%(num)s`` is ``count`` written for the language."""
    text = translations(language).ngettext(singular, plural, count)
    return text % {"num": number(count, language), **values}


@functools.cache
def direction(language: str) -> str:
    """ "rtl" or "ltr", from CLDR's character order for the language."""
    return "rtl" if Locale.parse(language).character_order == "right-to-left" else "ltr"


@functools.lru_cache(maxsize=4096)
def number(value: int | float, language: str) -> str:
    """``value`` as the language writes it ("1,234", "1.234", "1 234"); pages write the same small numbers
    (counts, tokens, minutes) over and over, and Babel takes some 35 µs a number, hence the cache."""
    return format_decimal(value, locale=language)


def clock_time(moment: datetime, language: str, zone: tzinfo) -> str:
    """A time of day, short, as the language writes it ("7:42 PM", "19:42")."""
    return format_time(moment, format="short", tzinfo=zone, locale=language)


def day_of_year(moment: datetime, language: str) -> str:
    """A weekday and date, as the language writes it ("Mon, November 30", "lun, 30 de noviembre")."""
    return format_skeleton("MMMMEEEEd", moment, locale=language)


def listed(items: Sequence[str], language: str) -> str:
    """ "a, b and c" in the language ("a, b y c", "a، b و c")."""
    return format_list(list(items), style="standard", locale=language)
