"""The guest's pages in each language in a real browser (Debian's Chromium through Playwright, at phone
size, against a real ``waitline serve`` on SQLite): the browser's language (Playwright's ``locale`` sets
Accept-Language), Arabic laid out right to left, the switch, and the live part in the page's language.
Screenshots: test-artifacts/screenshots/lang-*.png (those in docs/screenshots/ are copies of them).
"""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests import test_in_a_browser as browser_tests
from tests.browser import LIVE, PHONE, Console, set_up_restaurant, shoot, signed_in_dashboard
from tests.conftest import Server

# The fixtures of the other browser tests: the browser, this module's server on SQLite, the console watcher.
browser = browser_tests.browser
shared_sqlite_url = browser_tests.shared_sqlite_url
sqlite_server = browser_tests.sqlite_server
console = browser_tests.console

# What each language calls the ticket's label on the status page, and its join button.
YOUR_NUMBER = {
    "en": "Your number",
    "es": "Su número",
    "fr": "Votre numéro",
    "de": "Ihre Nummer",
    "pt": "O seu número",
    "ar": "رقمك",
}
JOIN_BUTTON = {"es": "Unirse a la fila", "ar": "انضم إلى قائمة الانتظار"}


def phone(browser: Browser, console: Console, locale: str) -> Page:
    return console.watch(browser.new_context(**PHONE, locale=locale).new_page())


def join(page: Page, join_url: str, *, name: str, mobile: str = "07400 123456") -> None:
    """Joins through the form, whatever the language of its labels."""
    page.goto(join_url)
    page.locator("#name").fill(name)
    page.locator("#mobile").fill(mobile)
    page.locator("#join-button").click()
    expect(page).to_have_url(re.compile(r"/e/[0-9a-f-]{36}$"))


def open_join_page(browser: Browser, console: Console, server: Server, url: str, locale: str) -> Page:
    """A new restaurant's join page on a phone whose browser prefers ``locale``; the page is in it."""
    slug, _ = set_up_restaurant(url, guests=2)
    page = phone(browser, console, locale)
    page.goto(f"{server.base_url}/{slug}")
    language = locale.split("-")[0]
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.get_by_role("button", name=JOIN_BUTTON[language])).to_be_visible()
    return page


def x_of(page: Page, selector: str) -> float:
    box = page.locator(selector).bounding_box()
    assert box is not None
    return box["x"]


def test_the_spanish_join_page_renders_in_spanish_left_to_right(
    browser: Browser, sqlite_server: Server, shared_sqlite_url: str, console: Console
) -> None:
    page = open_join_page(browser, console, sqlite_server, shared_sqlite_url, "es-ES")

    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    expect(page.get_by_label("Su nombre")).to_be_visible()
    # Left to right: the first fact (parties waiting) stands left of the second (the wait).
    assert x_of(page, ".facts > div:first-child") < x_of(page, ".facts > div:last-child")
    assert x_of(page, ".languages a:first-child") < x_of(page, ".languages a:last-child")
    shoot(page, "lang-join-es")


def test_the_arabic_join_page_is_laid_out_right_to_left(
    browser: Browser, sqlite_server: Server, shared_sqlite_url: str, console: Console
) -> None:
    page = open_join_page(browser, console, sqlite_server, shared_sqlite_url, "ar")

    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    width = page.viewport_size["width"] if page.viewport_size else 390
    # Mirrored: the first fact stands right of the second; a label starts at the right edge of its field;
    # the switch lists its languages from right to left.
    assert x_of(page, ".facts > div:first-child") > x_of(page, ".facts > div:last-child")
    label = page.get_by_text("اسمك", exact=True).evaluate(
        "element => { const range = document.createRange(); range.selectNodeContents(element);"
        " const text = range.getBoundingClientRect(); const box = element.getBoundingClientRect();"
        " return [text.right, box.right, text.left, box.left]; }"
    )
    text_right, box_right, text_left, box_left = label
    assert abs(text_right - box_right) < 2 and text_left - box_left > width / 3
    assert x_of(page, ".languages a:first-child") > x_of(page, ".languages a:last-child")
    # The number in the hint stays a left-to-right island: "+44", not "44+"; so does a typed number, while
    # the empty field's hint ("e.g. ...") reads right to left.
    expect(page.locator("#mobile-hint bdi")).to_have_text("+44")
    mobile = page.locator("#mobile")
    direction = "element => getComputedStyle(element).direction"
    assert mobile.evaluate(direction) == "rtl"
    shoot(page, "lang-join-ar")
    mobile.fill("07400 123456")
    assert mobile.evaluate(direction) == "ltr"


def test_the_status_page_speaks_each_language(
    browser: Browser, sqlite_server: Server, shared_sqlite_url: str, console: Console
) -> None:
    slug, _ = set_up_restaurant(shared_sqlite_url, guests=1)
    for index, (locale, label) in enumerate(YOUR_NUMBER.items()):
        page = phone(browser, console, locale)
        join(page, f"{sqlite_server.base_url}/{slug}", name=f"Guest {locale}", mobile=f"07400 12345{index}")
        expect(page.locator("html")).to_have_attribute("lang", locale)
        expect(page.locator(".ticket-label")).to_have_text(label)
        shoot(page, f"lang-status-{locale}")
        page.context.close()


def test_the_switch_changes_the_language_and_the_live_part_keeps_it(
    browser: Browser, sqlite_server: Server, shared_sqlite_url: str, console: Console
) -> None:
    slug, staff = set_up_restaurant(shared_sqlite_url)
    guest = phone(browser, console, "en-GB")
    guest.goto(f"{sqlite_server.base_url}/{slug}")
    guest.get_by_role("link", name="العربية").click()
    expect(guest.locator("html")).to_have_attribute("dir", "rtl")
    join(guest, f"{sqlite_server.base_url}/{slug}", name="ليلى")  # the cookie keeps Arabic for the join
    expect(guest.locator("html")).to_have_attribute("lang", "ar")
    expect(guest.locator(".position")).to_have_text("أنت التالي!")

    desk = signed_in_dashboard(browser.new_context(), console, sqlite_server.base_url, staff)
    desk.locator("#call-next").click()

    # Re-rendered by the live stream, in Arabic, with the page's title saying so too.
    expect(guest.locator(".called")).to_contain_text("حان دورك!", timeout=LIVE)
    expect(guest).to_have_title(re.compile(r"^\(حان دورك!\) "))
    shoot(guest, "lang-status-called-ar")
