"""Mobile numbers: parsed and normalised to E.164, and masked wherever they might be shown or logged."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from waitline.domain import InvalidMobileNumber

# Parsing a number costs more than the rest of a join's Python: each process remembers the latest ones (a
# guest's retries, the masks logged for them). Invalid input raises, and lru_cache keeps no exception.
_CACHED_NUMBERS = 4096


def normalise(raw: str, *, default_region: str | None) -> str:
    """E.164 form of ``raw``; a national number needs the restaurant's default region."""
    return _normalise(raw, default_region)


@lru_cache(maxsize=_CACHED_NUMBERS)
def _normalise(raw: str, default_region: str | None) -> str:
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as error:
        if error.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidMobileNumber(
                "Give the mobile number in international form, starting with + and the country code."
            ) from None
        raise InvalidMobileNumber() from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidMobileNumber()
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def needs_region(raw: str) -> bool:
    """True when ``raw`` is written nationally, so only a default region can say which country it is."""
    return not raw.strip().startswith("+")


@lru_cache(maxsize=_CACHED_NUMBERS)
def mask(e164: str) -> str:
    """``+14155550101`` -> ``+1415*****01``, ``+447911123456`` -> ``+44791*****56``: the country code, the
    next three digits and the last two; enough to tell numbers apart in a log, not to call one."""
    try:
        country_code = str(phonenumbers.parse(e164, None).country_code)
    except phonenumbers.NumberParseException:
        return "*" * len(e164)
    kept = 1 + len(country_code) + 3
    if not e164.startswith("+" + country_code) or len(e164) <= kept + 2:
        return "*" * len(e164)
    return e164[:kept] + "*" * (len(e164) - kept - 2) + e164[-2:]


def calling_code(region: str) -> int:
    """``GB`` -> 44: the country code that national numbers of the region get."""
    code: int = phonenumbers.country_code_for_region(region)
    return code


def example_mobile(region: str) -> str | None:
    """A made-up mobile number as people of the region write it (``07400 123456``), for a placeholder."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return None
    national: str = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    return national
