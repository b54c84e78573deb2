"""Mobile numbers: every way of writing one becomes E.164; a mask keeps only enough to tell them apart."""

from __future__ import annotations

import pytest

from waitline import phone
from waitline.domain import InvalidMobileNumber


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+447911123456", None, "+447911123456"),
        ("+44 7911 123456", None, "+447911123456"),
        ("+44 (0)7911 123-456", None, "+447911123456"),
        ("  +447911123456  ", None, "+447911123456"),
        ("07911 123456", "GB", "+447911123456"),
        ("07911123456", "GB", "+447911123456"),
        ("0044 7911 123456", "GB", "+447911123456"),
        ("+1 (415) 555-0101", None, "+14155550101"),
        ("(415) 555-0101", "US", "+14155550101"),
        ("415.555.0101", "US", "+14155550101"),
        ("+447911123456", "US", "+447911123456"),
    ],
)
def test_numbers_are_normalised_to_e164(raw: str, region: str | None, e164: str) -> None:
    assert phone.normalise(raw, default_region=region) == e164


def test_a_national_number_without_a_region_asks_for_the_international_form() -> None:
    with pytest.raises(InvalidMobileNumber) as raised:
        phone.normalise("07911 123456", default_region=None)

    assert "international form" in raised.value.detail
    assert "+" in raised.value.detail


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("07911 12345", "GB"),  # a digit short
        ("(415) 555-0101", "GB"),  # a US number read as British
        ("+44 20", None),
        ("+999 123456789", None),  # no such country code
        ("not a number", "GB"),
    ],
)
def test_invalid_numbers_are_refused(raw: str, region: str | None) -> None:
    with pytest.raises(InvalidMobileNumber) as raised:
        phone.normalise(raw, default_region=region)

    # The message never echoes the number back.
    assert raw.strip() not in raised.value.detail


@pytest.mark.parametrize(
    ("raw", "needs"),
    [
        ("07911 123456", True),
        ("(415) 555-0101", True),
        ("+447911123456", False),
        ("  +1 415 555 0101", False),
    ],
)
def test_only_numbers_without_a_plus_need_a_region(raw: str, needs: bool) -> None:
    assert phone.needs_region(raw) is needs


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+14155550101", "+1415*****01"),
        ("+447911123456", "+44791*****56"),
        ("+353871234567", "+353871****67"),
    ],
)
def test_mask_keeps_the_country_code_three_digits_and_the_last_two(e164: str, masked: str) -> None:
    assert phone.mask(e164) == masked
    assert len(phone.mask(e164)) == len(e164)


@pytest.mark.parametrize("e164", ["+14155550101", "+447911123456", "+353871234567", "+61412345678"])
def test_mask_hides_the_middle_of_every_number(e164: str) -> None:
    masked = phone.mask(e164)

    assert masked != e164
    assert "*" in masked
    hidden = masked.count("*")
    assert e164[-2 - hidden : -2] not in masked


@pytest.mark.parametrize("value", ["+12345", "+4479", "", "garbage"])
def test_mask_hides_everything_it_cannot_split_safely(value: str) -> None:
    assert phone.mask(value) == "*" * len(value)
