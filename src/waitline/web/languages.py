"""The guest pages' language: which one a request gets, the switch's cookie, and the template side of the
catalogs (Jinja's i18n extension, with gettext callables that read the language from the render context,
so that a live part re-rendered later, in the stream's own task, keeps the page's language)."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request, Response
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from waitline import language
from waitline.domain import Restaurant
from waitline.language import ENGLISH
from waitline.web import wording

COOKIE = "waitline_language"
PARAMETER = "lang"  # ?lang=es: the switch's links
COOKIE_SECONDS = 365 * 24 * 3600


def location_language(restaurant: Restaurant | None) -> str | None:
    """The location's default language (set on its settings page), when there is a location."""
    return None if restaurant is None else restaurant.default_language


def location_time_zone(restaurant: Restaurant | None) -> tzinfo | None:
    """The location's time zone, when there is a location and its zone is one this system knows."""
    if restaurant is None:
        return None
    try:
        return ZoneInfo(restaurant.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def page_language(request: Request, restaurant: Restaurant | None = None) -> str:
    """The switch's choice (?lang=, then its cookie), then Accept-Language, then the location's default,
    then English."""
    return language.choose(
        chosen=request.query_params.get(PARAMETER) or request.cookies.get(COOKIE),
        accept_language=request.headers.get("accept-language"),
        location_default=location_language(restaurant),
    )


def guest_choice(request: Request) -> str | None:
    """The guest's own choice (the switch, else Accept-Language), without the location's default."""
    return language.guest_choice(
        chosen=request.query_params.get(PARAMETER) or request.cookies.get(COOKIE),
        accept_language=request.headers.get("accept-language"),
    )


def remember_choice(request: Request, response: Response, *, secure: bool) -> None:
    """A page opened from the switch (?lang=xx) keeps that language for the guest's next pages."""
    chosen = language.supported(request.query_params.get(PARAMETER))
    if chosen and chosen != request.cookies.get(COOKIE):
        response.set_cookie(
            COOKIE, chosen, max_age=COOKIE_SECONDS, path="/", secure=secure, httponly=True, samesite="lax"
        )


_KNOWN = frozenset(language.LANGUAGES)


def _language(context: Context) -> str:
    code = context.get("language")
    return code if code in _KNOWN else ENGLISH


@pass_context
def _gettext(context: Context, message: str) -> str:
    return language.translations(_language(context)).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, count: int) -> str:
    return language.translations(_language(context)).ngettext(singular, plural, count)


@pass_context
def _number(context: Context, value: int | float) -> str:
    return language.number(value, _language(context))


@pass_context
def _place(context: Context, position: int) -> str:
    return wording.place(position, _language(context))


@pass_context
def _wait(context: Context, estimate: Any) -> str:
    return wording.wait(estimate, _language(context))


@pass_context
def _overtaking(context: Context, overtaken: Any) -> str:
    return wording.overtaking(overtaken, _language(context))


@pass_context
def _clock(context: Context, moment: datetime, zone: tzinfo | None) -> str:
    return language.clock_time(moment, _language(context), zone or UTC)


def isolated(text: str) -> str:
    """``text`` as a left-to-right island (U+2066 ... U+2069) where <bdi> cannot go: in an attribute, such as
    a placeholder's phone number, which a right-to-left sentence would otherwise reorder."""
    return f"\u2066{text}\u2069"


def install(environment: Environment) -> None:
    """gettext/ngettext for ``{% trans %}`` and ``_()``, and filters that write values for the language."""
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext, ngettext=_ngettext, newstyle=True
    )
    environment.filters["number"] = _number
    environment.filters["place"] = _place
    environment.filters["wait"] = _wait
    environment.filters["overtaking"] = _overtaking
    environment.filters["clock"] = _clock
    environment.filters["isolated"] = isolated
    environment.globals["direction"] = language.direction
    environment.globals["languages"] = [(code, language.NAMES[code]) for code in language.LANGUAGES]
    environment.globals["time_zone_of"] = location_time_zone
