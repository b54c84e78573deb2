"""Helpers for the browser tests: Debian's Chromium through Playwright, screenshots, a console watcher,
restaurants with a staff login, signing in on a dashboard."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect, sync_playwright

from tests.conftest import ARTIFACTS, CLIENT_IP
from tests.web_helpers import STAFF_PASSWORD, Staff
from waitline.config import Settings
from waitline.domain import Role
from waitline.services import Services
from waitline.store.engine import open_database

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ARTIFACTS / "screenshots"
LIVE = 2000  # ms: how soon a page must show a change made elsewhere
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
TABLET = {"viewport": {"width": 1024, "height": 768}}
TV = {"viewport": {"width": 1280, "height": 720}}


@contextmanager
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: scripts/install installs Debian's chromium")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Console:
    """The browser console's errors (script errors, CSP violations), not the failed loads tests provoke."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("console", self._message)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        return page

    def _message(self, message: ConsoleMessage) -> None:
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(message.text)


@contextmanager
def watching_console() -> Iterator[Console]:
    """Fails the test if a page it watched logged an error."""
    watcher = Console()
    yield watcher
    assert watcher.errors == []


def set_up_restaurant(
    database_url: str, *, region: str = "GB", guests: int = 0, role: Role = Role.HOST
) -> tuple[str, Staff]:
    """A new restaurant with a staff login (a host unless ``role`` says), and ``guests`` parties waiting."""
    slug = f"r{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        settings = Settings(database_url=database_url)
        database = open_database(settings)
        services = Services(database=database)
        try:
            await services.restaurants.create(slug=slug, name="Chez Test", default_region=region)
            await services.accounts.create_staff(
                slug=slug, email=f"{role.value}@{slug}.test", password=STAFF_PASSWORD, role=role
            )
            for index in range(guests):
                await services.queue.join(
                    client_ip=CLIENT_IP,
                    slug=slug,
                    name=f"Early {index}",
                    mobile=f"+1415555{index:04d}",
                    party_size=2,
                    idempotency_key=None,
                )
        finally:
            await database.dispose()

    # Playwright's synchronous API keeps an event loop of its own running in this thread.
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, main()).result()
    return slug, Staff(slug=slug, email=f"{role.value}@{slug}.test")


def fill_in_join_form(page: Page, join_url: str, *, name: str, mobile: str = "07400 123456") -> None:
    """Opens the join page and fills it in (the test then presses the button its own way)."""
    page.goto(join_url)
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Mobile number").fill(mobile)


def join_as_guest(page: Page, join_url: str, *, name: str) -> None:
    fill_in_join_form(page, join_url, name=name)
    page.get_by_role("button", name="Join the queue").click()
    expect(page).to_have_url(re.compile(r"/e/[0-9a-f-]{36}$"))


def shoot(page: Page, name: str) -> None:
    # caret="initial": hiding the caret would inject a style, which the pages' CSP refuses.
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True, caret="initial")


def signed_in_dashboard(context: BrowserContext, console: Console, base_url: str, staff: Staff) -> Page:
    page = console.watch(context.new_page())
    page.goto(f"{base_url}/staff/{staff.slug}")
    expect(page).to_have_url(f"{base_url}/staff/{staff.slug}/login")
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(staff.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base_url}/staff/{staff.slug}")
    return page


def waiting_count(base_url: str, slug: str) -> int:
    count: int = httpx.get(f"{base_url}/api/public/{slug}").json()["waitingCount"]
    return count


# The fixtures of the browser test modules (each imports them: one browser per module).
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as started:
        yield started


@pytest.fixture
def console() -> Iterator[Console]:
    with watching_console() as watcher:
        yield watcher
