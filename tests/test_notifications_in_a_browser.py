"""In Debian's chromium: the called guest taps "On my way" on a phone; the staff dashboard shows it, the texts
that went out and their state, and the hold countdown until then."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser import (
    LIVE,
    PHONE,
    TABLET,
    Console,
    browser,
    console,
    join_as_guest,
    set_up_restaurant,
    shoot,
    signed_in_dashboard,
)
from tests.conftest import Server, start_server, stop_server
from tests.twilio_standin import TwilioStandIn, twilio_standin

__all__ = ["browser", "console"]  # fixtures

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")


@pytest.fixture
def texting_server(sqlite_database_url: str, tmp_path: Path) -> Iterator[tuple[Server, TwilioStandIn]]:
    with twilio_standin() as standin:
        server = start_server(
            sqlite_database_url, tmp_path / "server.log", WAITLINE_NOTIFY_POLL_SECONDS="0.2", **standin.env()
        )
        try:
            yield server, standin
        finally:
            stop_server(server)


def test_the_called_guest_taps_on_my_way_and_staff_see_it_with_the_texts(
    browser: Browser,
    texting_server: tuple[Server, TwilioStandIn],
    sqlite_database_url: str,
    console: Console,
) -> None:
    server, standin = texting_server
    base = server.base_url
    slug, staff = set_up_restaurant(sqlite_database_url)
    guest = console.watch(browser.new_context(**PHONE).new_page())
    join_as_guest(guest, f"{base}/{slug}", name="Ada")
    dashboard = signed_in_dashboard(browser.new_context(**TABLET), console, base, staff)
    dashboard.locator("#call-next").click()

    expect(guest.locator("#on-my-way")).to_be_visible(timeout=LIVE)
    expect(dashboard.locator(".party-hold")).to_contain_text("left")
    dashboard.reload()
    expect(dashboard.locator('[data-message="table_ready"]')).to_have_attribute(
        "data-state", "sent", timeout=LIVE
    )
    shoot(dashboard, "dashboard-hold-and-texts")
    shoot(guest, "status-on-my-way")

    guest.locator("#on-my-way").click()

    expect(guest.locator("[data-confirmed-note]")).to_be_visible()
    expect(dashboard.locator('[data-reply="confirmed"]')).to_be_visible(timeout=LIVE)
    expect(dashboard.locator(".party-hold")).to_have_count(0)
    shoot(guest, "status-confirmed")
    shoot(dashboard, "dashboard-confirmed")
    assert any("your table is ready" in r.body for r in standin.accepted)
