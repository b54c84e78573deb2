"""The pages in a real browser (Debian's Chromium, driven by Playwright) against a real ``waitline serve``
on SQLite: a guest on a phone, staff on tablets, the board on a TV. Screenshots of every page are saved
under test-artifacts/screenshots/.

Waits use Playwright's ``expect(..., timeout=...)``: it polls until the page shows the thing, and fails if it
does not within the time. "Within 2 s" is the issue's bar for live updates; no test measures durations.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Route, expect

from tests.browser import (
    LIVE,
    PHONE,
    TABLET,
    TV,
    Console,
    chromium,
    fill_in_join_form,
    join_as_guest,
    set_up_restaurant,
    shoot,
    signed_in_dashboard,
    waiting_count,
    watching_console,
)
from tests.conftest import Server, start_server, stop_server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def shared_sqlite_url(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("browser") / "waitline.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def sqlite_server(shared_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module's tests; each test has its own restaurant in it."""
    server = start_server(shared_sqlite_url, tmp_path_factory.mktemp("browser-server") / "server.log")
    yield server
    stop_server(server)


# --- the guest --------------------------------------------------------------------------------------------


@pytest.fixture
def console() -> Iterator[Console]:
    with watching_console() as watcher:
        yield watcher


def test_a_guest_joins_on_a_phone_sees_token_and_position_and_can_leave(
    browser: Browser, sqlite_server: Server, shared_sqlite_url: str, console: Console
) -> None:
    base = sqlite_server.base_url
    slug, _ = set_up_restaurant(shared_sqlite_url, guests=1)
    phone = browser.new_context(**PHONE)
    page = console.watch(phone.new_page())

    page.goto(f"{base}/{slug}")
    expect(page.get_by_role("heading", name="Chez Test")).to_be_visible()
    expect(page.locator("#queue-live")).to_contain_text("Parties waiting1")
    shoot(page, "join")

    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("Mobile number").fill("12345")
    page.get_by_label("How many people?").select_option("3")
    page.get_by_role("button", name="Join the queue").click()
    expect(page.locator("#mobile-error")).to_have_text("The mobile number is not a valid phone number.")
    expect(page.get_by_label("Mobile number")).to_have_attribute("aria-invalid", "true")
    shoot(page, "join-refused")

    page.get_by_label("Mobile number").fill("07400 123456")
    page.get_by_role("button", name="Join the queue").click()
    expect(page).to_have_url(re.compile(rf"{base}/{slug}/e/[0-9a-f-]{{36}}$"))
    status_url = page.url
    expect(page.locator("[data-token-number]")).to_have_text("2")
    expect(page.locator(".position")).to_have_text("You are 2nd in line")
    expect(page.locator(".wait")).to_contain_text("Estimated wait")
    shoot(page, "status-waiting")

    page.reload()
    expect(page.locator("[data-token-number]")).to_have_text("2")

    page.goto(f"{base}/{slug}")
    offer = page.locator("#return-to-place")
    expect(offer).to_be_visible()
    expect(offer).to_contain_text("#2")
    offer.get_by_role("link", name="Return to my place").click()
    expect(page).to_have_url(status_url)

    page.get_by_text("Leave the queue", exact=True).click()
    page.get_by_role("button", name="Yes, leave the queue").click()
    expect(page.locator("#status-live")).to_contain_text("You have left the queue.")
    expect(page.get_by_role("button", name="Yes, leave the queue")).to_be_hidden()
    expect(page.get_by_text("Leave the queue", exact=True)).to_be_hidden()
    shoot(page, "status-left")
    assert page.evaluate(f"localStorage.getItem('waitline:place:{slug}')") is None
    assert waiting_count(base, slug) == 1
    phone.close()


def test_a_double_tap_and_a_lost_answer_still_make_one_entry(
    browser: Browser, sqlite_server: Server, shared_sqlite_url: str, console: Console
) -> None:
    base = sqlite_server.base_url
    slug, _ = set_up_restaurant(shared_sqlite_url)
    phone = browser.new_context(**PHONE)
    page = console.watch(phone.new_page())
    sent: list[str] = []

    def lose_the_first_answer(route: Route) -> None:
        sent.append(route.request.post_data or "")
        if len(sent) == 1:
            route.fetch()  # the server does the join...
            route.abort("connectionreset")  # ...but its answer never reaches the phone
        else:
            route.continue_()

    page.route(f"**/{slug}/join", lose_the_first_answer)
    fill_in_join_form(page, f"{base}/{slug}", name="Grace Hopper", mobile="+44 7400 123456")
    page.get_by_role("button", name="Join the queue").dblclick()

    expect(page).to_have_url(re.compile(rf"/{slug}/e/"), timeout=10_000)
    expect(page.locator("[data-token-number]")).to_have_text("1")
    keys = [re.search(r"idempotency_key=([^&]+)", body) for body in sent]
    assert len(sent) == 2  # the double tap sent once; the script retried once
    assert keys[0] and keys[1] and keys[0].group(1) == keys[1].group(1)
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", keys[0].group(1)
    )
    assert waiting_count(base, slug) == 1
    phone.close()


# --- staff and live updates -------------------------------------------------------------------------------


def test_staff_call_next_and_the_guests_open_page_changes_without_a_reload(
    browser: Browser, sqlite_server: Server, shared_sqlite_url: str, console: Console
) -> None:
    base = sqlite_server.base_url
    slug, staff = set_up_restaurant(shared_sqlite_url)
    guest = console.watch(browser.new_context(**PHONE).new_page())
    join_as_guest(guest, f"{base}/{slug}", name="Ada")
    expect(guest.locator(".position")).to_have_text("You are next!")
    guest.evaluate("window.notReloaded = true")

    tablets = [browser.new_context(**TABLET) for _ in range(2)]
    login = console.watch(tablets[0].new_page())
    login.goto(f"{base}/staff/{slug}/login")
    shoot(login, "login")
    first = signed_in_dashboard(tablets[0], console, base, staff)
    second = signed_in_dashboard(tablets[1], console, base, staff)
    expect(first.locator("#call-next")).to_contain_text("#1 Ada (2)")
    shoot(first, "dashboard")

    first.locator("#call-next").click()

    expect(first.locator("#notice")).to_have_text("Called #1 Ada (2 people).")
    expect(guest.locator("#status-live")).to_contain_text("It’s your turn!", timeout=LIVE)
    expect(second.locator("[aria-labelledby=called-heading]")).to_contain_text("Ada", timeout=LIVE)
    assert guest.evaluate("window.notReloaded") is True
    shoot(guest, "status-called")

    # A third screen that stopped getting updates still offers "Seat" after another tablet has seated.
    stale = console.watch(tablets[1].new_page())
    stale.route("**/live", lambda route: route.abort())
    stale.goto(f"{base}/staff/{slug}")
    first.get_by_role("button", name="Seat #1").click()
    expect(first.locator("#notice")).to_have_text("Seated #1 Ada (2 people).")
    expect(second.locator("[aria-labelledby=called-heading]")).to_contain_text("Nobody called", timeout=LIVE)
    stale.get_by_role("button", name="Seat #1").click()
    expect(stale.locator("#notice")).to_have_text("Nothing changed: token 1 is already seated.")
    expect(stale.locator("[aria-labelledby=called-heading]")).to_contain_text("Nobody called")
    shoot(stale, "dashboard-refused")
    expect(guest.locator("#status-live")).to_contain_text("You have been seated", timeout=LIVE)

    board = console.watch(browser.new_context(**TV).new_page())
    board.goto(f"{base}/{slug}/board")
    expect(board.locator("[data-now-serving]")).to_have_text("1")
    shoot(board, "board")
    poster = console.watch(tablets[0].new_page())
    poster.goto(f"{base}/staff/{slug}/poster")
    expect(poster.locator("img.poster-qr")).to_be_visible()
    shoot(poster, "poster")
    on_phone = signed_in_dashboard(browser.new_context(**PHONE), console, base, staff)
    shoot(on_phone, "dashboard-phone")


# --- the API documentation --------------------------------------------------------------------------------


def test_the_api_docs_render_with_nothing_loaded_from_elsewhere(
    browser: Browser, sqlite_server: Server, console: Console
) -> None:
    """Swagger UI is served from /static under the page's CSP: a script or style from a CDN, an inline one,
    or a CSP violation of any kind would show here."""
    context = browser.new_context(**TABLET)
    page = console.watch(context.new_page())
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((sqlite_server.base_url, "data:"))
            else elsewhere.append(request.url)
        ),
    )

    page.goto(f"{sqlite_server.base_url}/docs")

    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    expect(page.get_by_text("/api/public/{slug}/queue", exact=True).first).to_be_visible()
    expect(page.locator(".info .title")).to_contain_text("waitline")
    page.get_by_text("/api/public/{slug}/queue", exact=True).first.click()  # the join: unfolded
    expect(page.get_by_text("Request body").first).to_be_visible()
    shoot(page, "api-docs")
    assert elsewhere == []
    context.close()


# --- right-to-left names ----------------------------------------------------------------------------------

RTL_NAME = "עדה לבלייס"


def test_a_right_to_left_name_leaves_token_and_party_size_in_their_places(
    browser: Browser, sqlite_server: Server, shared_sqlite_url: str, console: Console
) -> None:
    """Unisolated, "#1 עדה (2)" is laid out as "#1 (2) עדה" with its brackets turned: the party size
    crosses to the other side of the name."""
    base = sqlite_server.base_url
    slug, staff = set_up_restaurant(shared_sqlite_url)
    guest = console.watch(browser.new_context(**PHONE).new_page())
    join_as_guest(guest, f"{base}/{slug}", name=RTL_NAME)
    expect(guest.locator(".ticket-name")).to_contain_text(RTL_NAME)
    shoot(guest, "status-rtl-name")
    dashboard = signed_in_dashboard(browser.new_context(**TABLET), console, base, staff)
    who = dashboard.locator("#call-next .call-next-who")
    expect(who).to_contain_text(RTL_NAME)
    shoot(dashboard, "dashboard-rtl-name")

    name_box, size_box = who.evaluate(
        """(element) => {
            const name = element.querySelector("bdi");
            const size = document.createRange();
            size.selectNodeContents(name.nextSibling);
            const box = (rect) => [rect.left, rect.right];
            return [box(name.getBoundingClientRect()), box(size.getBoundingClientRect())];
        }"""
    )

    assert size_box[0] >= name_box[1] - 1, (name_box, size_box)  # the party size stays right of the name
    assert who.inner_text().endswith("(2)")
