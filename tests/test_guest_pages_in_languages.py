"""The guest's pages in the guest's language: chosen by the browser (Accept-Language), by the switch (?lang=,
kept in a cookie), or by the location; refusals, errors and the live parts in that language too."""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text
from starlette.requests import Request

from tests.conftest import StaffRestaurant, join_body
from tests.web_helpers import create_staff, form_post, sign_in
from waitline.domain import MAX_PARTY_SIZE, Restaurant
from waitline.store.engine import Database
from waitline.web import languages

pytestmark = pytest.mark.anyio

JSON = {"Accept": "application/json"}


async def join(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, *, page: str = "/luigis", **fields: str
) -> httpx.Response:
    """The join form sent from ``page`` (Ana, a valid number, a party of 2, unless ``fields`` say else)."""
    form = {"name": "Ana", "mobile": "07400 123456", "party_size": "2", "idempotency_key": "k-1", **fields}
    return await form_post(client, page, "/luigis/join", form, headers=headers)


def html_tag(page: httpx.Response) -> str:
    match = re.search(r"<html [^>]*>", page.text)
    assert match
    return match.group(0)


async def test_the_browsers_language_is_the_pages_language(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    spanish = await client.get("/luigis", headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"})
    arabic = await client.get("/luigis", headers={"Accept-Language": "ar-EG"})
    unknown = await client.get("/luigis", headers={"Accept-Language": "ja"})

    assert html_tag(spanish) == '<html lang="es" dir="ltr">'
    assert "Unirse a la fila" in spanish.text
    assert "Grupos en espera" in spanish.text
    assert html_tag(arabic) == '<html lang="ar" dir="rtl">'
    assert "انضم إلى قائمة الانتظار" in arabic.text
    assert html_tag(unknown) == '<html lang="en" dir="ltr">'
    assert "Join the queue" in unknown.text


async def test_the_switch_sets_the_language_for_the_next_pages(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    german = {"Accept-Language": "de"}
    switched = await client.get("/luigis?lang=fr", headers=german)
    later = await client.get("/luigis/board", headers=german)

    assert html_tag(switched) == '<html lang="fr" dir="ltr">'
    assert switched.cookies.get(languages.COOKIE) == "fr"
    assert "Rejoindre la file d’attente" in switched.text
    assert 'href="/luigis?lang=ar" lang="ar"' in switched.text  # the switch offers every language
    assert html_tag(later) == '<html lang="fr" dir="ltr">'  # the cookie, over the browser's German
    assert "Numéro appelé" in later.text


async def test_the_status_page_speaks_the_guests_language(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    for index in range(2):
        await client.post(f"{restaurant.public}/queue", json=join_body(index))
    joined = await join(client, page="/luigis?lang=de", name="Jürgen", party_size="3")
    status = await client.get(joined.headers["location"])

    assert html_tag(status) == '<html lang="de" dir="ltr">'
    assert "Sie sind <strong>Nr. <bdi>3</bdi></strong> in der Warteschlange" in status.text
    assert "<bdi>Jürgen</bdi> · 3 Personen" in status.text
    assert "Geschätzte Wartezeit: <strong>etwa 15\u00a0Min.</strong>" in status.text
    assert 'data-text-your-turn="Sie sind dran!"' in status.text


async def test_a_refused_join_is_explained_in_the_guests_language(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    spanish = {"Accept-Language": "es"}
    bad = {"name": "", "mobile": "12", "party_size": "99"}

    as_page = await join(client, spanish, **bad)
    as_script = await join(client, {**spanish, **JSON}, **bad)
    invalid_number = await join(
        client, {"Accept-Language": "ar", **JSON}, mobile="0000", idempotency_key="k-2"
    )

    assert as_page.status_code == as_script.status_code == 422
    assert "Escriba su nombre (hasta 80 caracteres)." in as_page.text
    assert 'href="/luigis?lang=de"' in as_page.text  # the switch reloads the join page, not the form's POST
    assert as_script.json()["errors"] == {
        "name": "Escriba su nombre (hasta 80 caracteres).",
        "mobile": "Escriba su número de móvil.",
        "party_size": f"Elija un número de personas entre 1 y {MAX_PARTY_SIZE}.",
    }
    assert invalid_number.json()["errors"] == {"mobile": "رقم الجوال ليس رقم هاتف صالحًا."}


async def test_the_paused_queue_is_refused_in_the_guests_language(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    await client.post(f"{restaurant.admin}/queue/pause", headers=restaurant.headers)
    refused = await join(client, {"Accept-Language": "pt-BR", **JSON})
    assert refused.json()["message"] == (
        "A fila está pausada: o restaurante não está aceitando novos clientes agora. Pergunte na entrada."
    )


async def test_an_unknown_address_is_a_not_found_page_in_the_guests_language(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/nowhere", headers={"Accept-Language": "fr"})
    assert page.status_code == 404
    assert "<h1>Introuvable</h1>" in page.text
    assert "Vérifiez le lien ou le code QR." in page.text


async def test_the_board_counts_parties_with_the_languages_plural_forms(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    arabic = {"Accept-Language": "ar"}
    seen = []
    for index in range(3):
        seen.append(re.sub(r"\s+", " ", (await client.get("/luigis/board", headers=arabic)).text))
        await client.post(f"{restaurant.public}/queue", json=join_body(index))
    seen.append(re.sub(r"\s+", " ", (await client.get("/luigis/board", headers=arabic)).text))

    assert "لا توجد مجموعات في الانتظار" in seen[0]  # zero
    assert "مجموعة واحدة في الانتظار" in seen[1]  # one
    assert "مجموعتان في الانتظار" in seen[2]  # two
    assert "<bdi>3</bdi> مجموعات في الانتظار" in seen[3]  # few


def test_without_a_choice_the_locations_default_language_comes_before_english() -> None:
    def request(headers: dict[str, str]) -> Request:
        raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        return Request({"type": "http", "method": "GET", "path": "/x", "query_string": b"", "headers": raw})

    location = Restaurant(
        id=uuid.uuid4(),
        slug="x",
        name="X",
        queue_open=True,
        default_region=None,
        created_at=datetime.now(UTC),
    )
    french_location = dataclasses.replace(location, default_language="fr")
    assert languages.page_language(request({"Accept-Language": "ja"}), french_location) == "fr"
    assert languages.page_language(request({"Accept-Language": "de"}), french_location) == "de"
    assert languages.page_language(request({}), location) == "en"
    assert languages.page_language(request({}), None) == "en"


async def test_the_joining_time_is_written_for_the_language_in_the_locations_time_zone(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database
) -> None:
    async with database.transaction() as connection:
        await connection.execute(text("UPDATE restaurant SET time_zone = 'Asia/Tokyo' WHERE slug = 'luigis'"))
    joined = await join(client)
    english = await client.get(joined.headers["location"], headers={"Accept-Language": "en"})
    spanish = await client.get(joined.headers["location"], headers={"Accept-Language": "es"})

    entry = await client.get(f"{restaurant.public}/queue/{joined.headers['location'].rsplit('/', 1)[1]}")
    created = datetime.fromisoformat(entry.json()["createdAt"]).astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"Joined at <bdi>{created:%-I:%M}\u202f{created:%p}</bdi>" in english.text
    assert f"En la fila desde las <bdi>{created:%-H:%M}</bdi>" in spanish.text


@pytest.mark.parametrize(
    ("query", "header"),
    [
        ("?lang=xx", "tlh"),
        ("?lang=", ";;;q=,,,"),
        ("?lang=" + "e" * 5000, "es;q=" + "9" * 400),
        ("?lang=%00", "ar-" + "x" * 200 + ", " * 300),
    ],
)
async def test_a_strange_language_choice_or_header_falls_back_quietly(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, query: str, header: str
) -> None:
    page = await client.get(f"/luigis{query}", headers={"Accept-Language": header})
    assert page.status_code == 200
    assert languages.COOKIE not in page.cookies


async def test_the_poster_guests_read_is_in_a_guests_language_and_the_dashboard_stays_english(
    client: httpx.AsyncClient, database: Database, restaurant: StaffRestaurant
) -> None:
    await sign_in(client, await create_staff(database, "luigis"))
    french = {"Accept-Language": "fr"}

    poster = await client.get("/staff/luigis/poster", headers=french)
    in_arabic = await client.get("/staff/luigis/poster?lang=ar", headers=french)
    dashboard = await client.get("/staff/luigis", headers=french)

    assert html_tag(poster) == '<html lang="fr" dir="ltr">'
    assert "Rejoignez la file d’attente depuis votre téléphone" in poster.text
    assert 'href="/staff/luigis/poster?lang=ar"' in poster.text
    assert html_tag(in_arabic) == '<html lang="ar" dir="rtl">'
    assert html_tag(dashboard) == '<html lang="en" dir="ltr">'
