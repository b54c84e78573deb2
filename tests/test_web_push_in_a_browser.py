"""In Debian's chromium: a guest taps "Tell me when it's my turn" (notifications granted), closes the page;
staff call; the push arrives at the local push endpoint, signed and decrypted.

Chromium without Google's push service cannot make a real subscription, so the page's
PushManager.subscribe is replaced by one that answers the subscription of the local endpoint (whose
private key the test holds); everything else is the browser's own: the service worker at /sw.js, the
permission, the key the page passes, the CSRF-protected POST, and the server's worker sending the push."""

from __future__ import annotations

import base64
import json
import shutil
import time
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
from tests.push_endpoint import PushEndpoint, b64url_decode, push_endpoint

__all__ = ["browser", "console"]  # fixtures

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")


@pytest.fixture
def pushing_server(sqlite_database_url: str, tmp_path: Path) -> Iterator[tuple[Server, PushEndpoint]]:
    with push_endpoint() as endpoint:
        server = start_server(
            sqlite_database_url,
            tmp_path / "server.log",
            WAITLINE_WEB_PUSH="true",
            WAITLINE_WEB_PUSH_CONTACT="mailto:queue@luigis.example",
            WAITLINE_NOTIFY_POLL_SECONDS="0.2",
        )
        try:
            yield server, endpoint
        finally:
            stop_server(server)


def _fake_subscribe(endpoint: PushEndpoint) -> str:
    subscription = endpoint.subscription()
    as_json = {
        "endpoint": subscription.endpoint,
        "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
    }
    return f"""
        window.__pushKey = null;
        PushManager.prototype.subscribe = async function (options) {{
            window.__pushKey = options.applicationServerKey;
            const json = {json.dumps(as_json)};
            return {{ endpoint: json.endpoint, toJSON: () => json }};
        }};
    """


def test_a_guest_opts_in_closes_the_page_and_the_call_is_pushed(
    browser: Browser, pushing_server: tuple[Server, PushEndpoint], sqlite_database_url: str, console: Console
) -> None:
    server, endpoint = pushing_server
    base = server.base_url
    slug, staff = set_up_restaurant(sqlite_database_url)
    context = browser.new_context(**PHONE)
    context.grant_permissions(["notifications"], origin=base)
    context.add_init_script(_fake_subscribe(endpoint))
    guest = console.watch(context.new_page())
    join_as_guest(guest, f"{base}/{slug}", name="Ada")

    guest.locator("#push-opt-in").click()
    expect(guest.locator("[data-push-done]")).to_be_visible(timeout=LIVE * 5)
    scope = guest.evaluate("navigator.serviceWorker.getRegistration().then(r => r && r.scope)")
    assert scope == f"{base}/"
    passed = guest.evaluate("btoa(String.fromCharCode(...window.__pushKey))")  # what the page subscribed with
    shoot(guest, "status-push-opted-in")
    guest.close()

    dashboard = signed_in_dashboard(browser.new_context(**TABLET), console, base, staff)
    dashboard.locator("#call-next").click()
    deadline = time.monotonic() + 15
    while not endpoint.received and time.monotonic() < deadline:
        time.sleep(0.1)
    assert endpoint.refused == []
    assert [push["title"] for push in endpoint.received] == ["Chez Test: your table is ready"]
    # Signed with the VAPID key the page gave the browser.
    assert base64.b64decode(passed) == b64url_decode(endpoint.received[0]["key"])
