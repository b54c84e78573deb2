"""The owners' story in a real browser (Debian's Chromium through Playwright) against ``waitline serve`` on
SQLite: an owner made on the command line signs in, creates a location with opening hours and invites a
host; the host opens the link in a second browser context, runs the queue and gets 403 on the settings; a
revoked host is signed out at their next request; a join outside the hours is refused with the opening time.
Screenshots go to docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import PHONE, TABLET, Console, browser, console
from tests.conftest import Server, start_server, stop_server
from tests.web_helpers import STAFF_PASSWORD

__all__ = ["browser", "console"]  # fixtures

DOCS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
ZONE = "Europe/Paris"


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "waitline.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path) -> Iterator[Server]:
    server = start_server(sqlite_url, tmp_path / "server.log")
    yield server
    stop_server(server)


def shoot(page: Page, name: str) -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=DOCS / f"{name}.png", full_page=True, caret="initial")


def owner_from_the_command_line(database_url: str, email: str) -> None:
    environment = {**os.environ, "WAITLINE_DATABASE_URL": database_url}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "waitline",
            "owner",
            "create",
            "--email",
            email,
            "--organisation",
            "Trattorias",
        ],
        input=f"{STAFF_PASSWORD}\n",
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_an_owner_sets_up_a_location_and_a_host_runs_it_until_revoked(
    browser: Browser, server: Server, sqlite_url: str, console: Console
) -> None:
    base = server.base_url
    slug = f"trattoria-{uuid.uuid4().hex[:6]}"
    owner_from_the_command_line(sqlite_url, "owner@trattoria.test")

    owner = console.watch(browser.new_context(**TABLET).new_page())
    owner.goto(f"{base}/admin")
    expect(owner).to_have_url(f"{base}/admin/login")
    shoot(owner, "admin-sign-in")
    owner.get_by_label("Email").fill("owner@trattoria.test")
    owner.get_by_label("Password").fill(STAFF_PASSWORD)
    owner.get_by_role("button", name="Sign in").click()
    expect(owner).to_have_url(f"{base}/admin")

    owner.get_by_label("Name").fill("Trattoria Roma")
    owner.get_by_label("Address").fill(slug)
    owner.get_by_label("Country for phone numbers").fill("FR")
    owner.get_by_role("button", name="Create location").click()
    expect(owner).to_have_url(f"{base}/admin/locations/{slug}")

    owner.get_by_label("Time zone").fill(ZONE)
    owner.get_by_label("Most parties waiting").fill("20")
    owner.get_by_label("Largest party").fill("8")
    owner.get_by_label("Take joins only in these hours").check()
    for day in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"):
        owner.get_by_label(day, exact=True).fill("00:00-24:00")
    owner.get_by_role("button", name="Save settings").click()
    expect(owner.locator("#notice")).to_have_text("Saved.")
    shoot(owner, "admin-location-settings")

    owner.get_by_role("link", name="Staff").click()
    owner.get_by_label("Email").fill("host@trattoria.test")
    owner.get_by_label("Role", exact=True).select_option("host")
    owner.get_by_role("button", name="Create invitation link").click()
    link = owner.locator("#invite-link").inner_text()
    assert link.startswith(f"{base}/invite/")
    shoot(owner, "admin-staff-invitation")

    # A guest is waiting when the host starts.
    joined = httpx.post(
        f"{base}/api/public/{slug}/queue",
        json={"name": "Ada", "mobileNumber": "+33612345678", "partySize": 2},
    )
    assert joined.status_code == 201, joined.text

    host = console.watch(browser.new_context(**TABLET).new_page())
    host.goto(link)
    expect(host.get_by_text("host@trattoria.test")).to_be_visible()
    shoot(host, "invitation")
    host.get_by_label("Password").fill(STAFF_PASSWORD)
    host.get_by_role("button", name="Accept and set password").click()
    expect(host).to_have_url(f"{base}/staff/{slug}/login")
    host.get_by_label("Email").fill("host@trattoria.test")
    host.get_by_label("Password").fill(STAFF_PASSWORD)
    host.get_by_role("button", name="Sign in").click()
    expect(host).to_have_url(f"{base}/staff/{slug}")
    host.locator("#call-next").click()
    expect(host.get_by_text(re.compile("Called #1"))).to_be_visible()
    shoot(host, "host-dashboard")

    settings = host.goto(f"{base}/admin/locations/{slug}")
    assert settings is not None and settings.status == 403
    shoot(host, "host-refused-settings")
    host.goto(f"{base}/staff/{slug}")

    # Closed today and tomorrow (in Paris): a join is refused with the opening time.
    today = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date()
    owner.get_by_role("link", name="Settings").click()
    owner.get_by_label("Closed dates").fill(f"{today}, {today + timedelta(days=1)}")
    owner.get_by_role("button", name="Save settings").click()
    expect(owner.locator("#notice")).to_have_text("Saved.")
    refused = httpx.post(
        f"{base}/api/public/{slug}/queue",
        json={"name": "Bo", "mobileNumber": "+33612345679", "partySize": 2},
    )
    assert refused.status_code == 409
    opens = datetime.fromisoformat(refused.json()["opensAt"])
    assert opens == datetime.combine(today + timedelta(days=2), datetime.min.time(), tzinfo=ZoneInfo(ZONE))
    guest = console.watch(browser.new_context(**PHONE).new_page())
    guest.goto(f"{base}/{slug}")
    guest.get_by_label("Your name").fill("Bo")
    guest.get_by_label("Mobile number").fill("06 12 34 56 79")
    guest.get_by_role("button", name="Join the queue").click()
    expect(guest.locator("#form-message")).to_contain_text("It opens again on")
    shoot(guest, "join-outside-hours")

    # Revoked: the host's next request signs them out.
    owner.get_by_role("link", name="Staff").click()
    owner.get_by_role("button", name="Revoke host@trattoria.test").click()
    expect(owner.locator("#notice")).to_contain_text("revoked")
    host.reload()
    expect(host).to_have_url(f"{base}/staff/{slug}/login")
    shoot(host, "host-revoked")

    owner.get_by_role("link", name="Audit trail").click()
    expect(owner.get_by_text("staff.revoke")).to_be_visible()
    shoot(owner, "admin-audit-trail")
