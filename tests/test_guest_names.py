"""Names in any script are taken; names that would show as nothing (or spill over the lines around them) are
refused; and a right-to-left name is isolated from the token and party size shown beside it.
"""

from __future__ import annotations

import re
import unicodedata

import httpx
import pytest

from tests.conftest import StaffRestaurant, join_body
from tests.test_staff_dashboard import press
from tests.web_helpers import create_staff, sign_in
from waitline.store.engine import Database
from waitline.web.schemas import MAX_MARKS_PER_CHARACTER

pytestmark = pytest.mark.anyio

REAL_NAMES = [
    "Zoë",
    "Zoe\u0308",  # the same, decomposed (NFD): stored composed
    "Nguye\u0302\u0303n Thi\u0323 Ngo\u0323c",  # Vietnamese, decomposed: two marks on one letter
    "שָׁלוֹם",  # pointed Hebrew
    "محمد",
    "क़िरण",  # Devanagari: nukta and vowel sign on one consonant
    "น้ำผึ้ง",  # Thai: vowel and tone marks
    "བསྒྲུབས",  # Tibetan: a stack
    "李小龍",
    "Ада",
    "O'Brien-Smith",
    "x" + "\u0300\u0301\u0302\u0303"[:MAX_MARKS_PER_CHARACTER],  # as many marks as one letter may take
]

BLANK_OR_SPILLING_NAMES = [
    "\u3164",  # HANGUL FILLER
    "\u3164\u3164 \u3164",
    "\u115f\u1160",  # HANGUL CHOSEONG / JUNGSEONG FILLER
    "\uffa0",  # HALFWIDTH HANGUL FILLER
    "\u2800",  # BRAILLE PATTERN BLANK
    "\u2800 \u2800",
    "\u0301",  # a lone combining accent
    "\u0301\u0308\u0323",
    " \u0301Ada",  # a mark on nothing (after trimming)
    "Ada \u0308",  # a mark on a space
    "\u3164\u0301",  # a mark on a filler
    "x" + "\u0301" * 79,  # one letter under 79 marks
    "x" + "\u0300\u0301\u0302\u0303\u0304\u0305"[: MAX_MARKS_PER_CHARACTER + 1],  # one mark too many
]


@pytest.mark.parametrize("name", REAL_NAMES)
async def test_names_in_any_script_are_taken(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, name: str
) -> None:
    response = await client.post(f"{restaurant.public}/queue", json=join_body(0, name=name))

    assert response.status_code == 201, response.text
    assert response.json()["name"] == " ".join(unicodedata.normalize("NFC", name).split())


@pytest.mark.parametrize("name", BLANK_OR_SPILLING_NAMES)
async def test_names_that_show_nothing_or_spill_over_are_refused(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, name: str
) -> None:
    response = await client.post(f"{restaurant.public}/queue", json=join_body(0, name=name))

    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == ["name"]
    waiting = await client.get(f"{restaurant.admin}/queue", headers=restaurant.headers)
    assert waiting.json()["entries"] == []


RTL_NAME = "אדה לאבלייס"


def isolated_everywhere(html: str, name: str) -> bool:
    """Every time the name is shown, it is the whole content of a <bdi> element."""
    shown = html.count(name)
    isolated = len(re.findall(rf"<bdi[^>]*>{re.escape(name)}</bdi>", html))
    return shown > 0 and shown == isolated


async def test_a_right_to_left_name_is_isolated_on_every_page_that_shows_it(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    joined = await client.post(f"{restaurant.public}/queue", json=join_body(0, name=RTL_NAME))
    assert joined.status_code == 201
    await client.post(f"{restaurant.public}/queue", json=join_body(1, name=RTL_NAME))
    await sign_in(client, await create_staff(database, "luigis"))

    status_page = await client.get(f"/luigis/e/{joined.json()['id']}")
    dashboard = await client.get("/staff/luigis")  # the call-next button and the waiting row
    called = await press(client, "call-next")  # the notice, and the called row
    seated = await press(client, f"entries/{joined.json()['id']}/seat")

    for page in (status_page, dashboard, called, seated):
        assert page.status_code == 200
        assert isolated_everywhere(page.text, RTL_NAME), page.text


async def test_the_name_field_takes_its_direction_from_what_is_typed(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    page = await client.get("/luigis")

    field = re.search(r'<input id="name"[^>]*>', page.text)
    assert field is not None
    assert 'dir="auto"' in field.group(0)
