"""The analytics page in a real browser (Debian's Chromium through Playwright) against ``waitline serve``
on SQLite, on a month of generated history: the figures, the heatmap and the charts render with nothing
loaded from elsewhere and no console error (CSP included). Screenshots: analytics.png, analytics-phone.png.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bench import history
from playwright.sync_api import Browser, Request, expect
from sqlalchemy import text

from tests.browser import (
    PHONE,
    TABLET,
    Console,
    browser,
    console,
    set_up_restaurant,
    shoot,
    signed_in_dashboard,
)
from tests.conftest import Server, start_server, stop_server
from waitline.config import Settings
from waitline.domain import Role
from waitline.store.engine import open_database

__all__ = ["browser", "console"]  # fixtures


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "waitline.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path) -> Iterator[Server]:
    started = start_server(sqlite_url, tmp_path / "server.log")
    yield started
    stop_server(started)


def write_last_month(database_url: str, slug: str) -> int:
    """A month of history up to yesterday; returns the parties joined in the page's default 28 days."""

    async def main() -> int:
        database = open_database(Settings(database_url=database_url))
        try:
            async with database.transaction() as connection:
                restaurant_id = (
                    await connection.execute(
                        text("SELECT id FROM restaurant WHERE slug = :slug"), {"slug": slug}
                    )
                ).scalar_one()
                today = datetime.now(UTC).date()
                parties = history.simulate(
                    first_day=today - timedelta(days=30),
                    days=30,
                    parties_per_day=60,
                    seed=11,
                    quote=lambda party: (party.position * 2, party.position * 4 + 5),
                )
                await history.write(connection, restaurant_id, parties)
            start = datetime.combine(today - timedelta(days=27), datetime.min.time(), tzinfo=UTC)
            return sum(party.joined >= start for party in parties)
        finally:
            await database.dispose()

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, main()).result()


def test_the_analytics_page_draws_its_figures_and_charts_on_a_tablet_and_a_phone(
    browser: Browser, server: Server, sqlite_url: str, console: Console
) -> None:
    base = server.base_url
    slug, staff = set_up_restaurant(sqlite_url, role=Role.MANAGER)  # analytics: managers and owners
    joined = write_last_month(sqlite_url, slug)
    elsewhere: list[str] = []

    def note(request: Request) -> None:
        if not request.url.startswith(base):
            elsewhere.append(request.url)

    for name, device in (("analytics", TABLET), ("analytics-phone", PHONE)):
        context = browser.new_context(**device)
        context.on("request", note)
        page = signed_in_dashboard(context, console, base, staff)
        page.goto(f"{base}/staff/{slug}/analytics")
        expect(page.locator('[data-count="joined"]')).to_have_text(str(joined))
        expect(page.locator("svg.chart")).to_have_count(3)
        expect(page.locator("svg.chart").first).to_be_visible()
        assert page.locator("svg.chart rect").count() > 168
        expect(page.get_by_role("link", name="Entries (CSV)")).to_have_attribute(
            "href", re.compile(r"entries\.csv")
        )
        shoot(page, name)
        assert elsewhere == []
        context.close()
