"""In a real browser: a guest's page served by one ``waitline serve`` process changes live when staff act
through another process on the same PostgreSQL (NOTIFY reaches every process's LISTEN connection).

Its own module: the database fixtures start event loops of their own, which cannot run while Playwright's
synchronous API holds one, so here the browser starts after the database is made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.browser import (
    LIVE,
    PHONE,
    TABLET,
    Console,
    chromium,
    join_as_guest,
    set_up_restaurant,
    signed_in_dashboard,
    watching_console,
)
from tests.conftest import Server
from tests.web_helpers import Staff


@pytest.fixture
def console() -> Iterator[Console]:
    with watching_console() as watcher:
        yield watcher


def test_a_staff_action_on_one_server_reaches_a_guest_on_another(
    server_factory: Callable[..., Server], pg_database_url: str, console: Console
) -> None:
    server_a, server_b = server_factory(pg_database_url), server_factory(pg_database_url)
    slug, staff = set_up_restaurant(pg_database_url, guests=1)
    with chromium() as browser:
        guest_on_a_staff_on_b(browser, server_a, server_b, slug, staff, console)


def guest_on_a_staff_on_b(
    browser: Browser, server_a: Server, server_b: Server, slug: str, staff: Staff, console: Console
) -> None:
    guest = console.watch(browser.new_context(**PHONE).new_page())
    join_as_guest(guest, f"{server_a.base_url}/{slug}", name="Ada")
    expect(guest.locator(".position")).to_have_text("You are 2nd in line")

    dashboard = signed_in_dashboard(browser.new_context(**TABLET), console, server_b.base_url, staff)
    dashboard.locator("#call-next").click()

    expect(guest.locator(".position")).to_have_text("You are next!", timeout=LIVE)
    dashboard.locator("#call-next").click()
    expect(guest.locator("#status-live")).to_contain_text("It’s your turn!", timeout=LIVE)
