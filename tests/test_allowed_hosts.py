"""The Host header cannot put another address on the board or in the QR code.

Once ``WAITLINE_PUBLIC_URL`` (or ``WAITLINE_ALLOWED_HOSTS``) is set, a request for any other host name is
refused with problem+json before a handler sees it, pages, API and live streams alike; only the operations
endpoints answer any name. With neither set (the demo) every name is answered. The QR code, whose address
may come from the Host header, is never kept by a shared cache.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest

from tests.conftest import StaffRestaurant
from waitline.config import Settings
from waitline.web.allowed_hosts import host_name
from waitline.web.app import create_app

pytestmark = pytest.mark.anyio

PROBLEM = "application/problem+json"
EVERY_KIND_OF_PATH = [
    "/luigis",
    "/luigis/board",
    "/luigis/qr.svg",
    "/luigis/live",
    "/staff/luigis/login",
    "/staff/luigis/poster",
    "/api/public/luigis",
    "/openapi.json",
    "/docs",
]

Client = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def client_with(settings: Settings, restaurant: StaffRestaurant) -> Client:
    @asynccontextmanager
    async def client_with(**configured: str) -> AsyncIterator[httpx.AsyncClient]:
        # Live streams end at once: the in-process transport waits for a whole answer.
        app = create_app(settings.model_copy(update={"live_max_stream_seconds": 0.1, **configured}))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://waitline.test") as client:
                yield client

    return client_with


async def test_with_a_public_url_other_host_names_are_refused_everywhere(client_with: Client) -> None:
    async with client_with(public_url="https://queue.example.com") as client:
        refused = [await client.get(path, headers={"Host": "evil.example"}) for path in EVERY_KIND_OF_PATH]

    assert {response.status_code for response in refused} == {421}
    assert {response.headers["content-type"] for response in refused} == {PROBLEM}
    assert {response.json()["type"] for response in refused} == {"urn:waitline:problem:unknown-host"}
    assert not any(b"evil.example" in response.content for response in refused)


@pytest.mark.parametrize(
    "host", ["queue.example.com", "QUEUE.example.com", "queue.example.com:443", "queue.example.com."]
)
async def test_the_public_urls_host_is_answered_in_any_spelling(client_with: Client, host: str) -> None:
    async with client_with(public_url="https://queue.example.com") as client:
        board = await client.get("/luigis/board", headers={"Host": host})

    assert board.status_code == 200
    assert "https://queue.example.com/luigis" in board.text


async def test_allowed_hosts_are_answered_besides_the_public_url(client_with: Client) -> None:
    async with client_with(
        public_url="https://queue.example.com", allowed_hosts="queue.internal, 10.0.0.8, [2001:db8::8]"
    ) as client:
        statuses = [
            (await client.get("/api/public/luigis", headers={"Host": host})).status_code
            for host in ["queue.internal:8000", "10.0.0.8", "[2001:db8::8]:8000", "queue.internal.evil"]
        ]

    assert statuses == [200, 200, 200, 421]


async def test_allowed_hosts_alone_also_refuse_the_rest(client_with: Client) -> None:
    async with client_with(allowed_hosts="queue.internal") as client:
        allowed = await client.get("/luigis/board", headers={"Host": "queue.internal"})
        refused = await client.get("/luigis/board", headers={"Host": "evil.example"})

    assert (allowed.status_code, refused.status_code) == (200, 421)


async def test_health_and_metrics_answer_whatever_the_host(client_with: Client) -> None:
    async with client_with(public_url="https://queue.example.com") as client:
        statuses = [
            (await client.get(path, headers={"Host": "10.1.2.3:8000"})).status_code
            for path in ["/healthz", "/readyz", "/metrics"]
        ]

    assert statuses == [200, 200, 200]


@pytest.mark.parametrize("host", ["", "evil.example/a", "user@queue.example.com", "queue.example.com:x"])
async def test_a_missing_or_malformed_host_is_a_bad_request(client_with: Client, host: str) -> None:
    async with client_with(public_url="https://queue.example.com") as client:
        response = await client.get("/api/public/luigis", headers={"Host": host})

    assert response.status_code == 400
    assert response.json()["type"] == "urn:waitline:problem:bad-host"


async def test_without_a_public_url_any_host_is_answered_as_in_the_demo(client_with: Client) -> None:
    async with client_with() as client:
        answers = [
            await client.get("/luigis/board", headers={"Host": host})
            for host in ["localhost:8000", "127.0.0.1:8000", "192.168.1.20:8000"]
        ]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert "http://192.168.1.20:8000/luigis" in answers[2].text


async def test_no_shared_cache_keeps_the_qr_code(client_with: Client) -> None:
    async with client_with() as client:
        response = await client.get("/luigis/qr.svg", headers={"Host": "evil.example"})

    assert response.status_code == 200
    directives = {part.strip() for part in response.headers["cache-control"].split(",")}
    assert "private" in directives or "no-store" in directives
    assert "public" not in directives


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("queue.example.com", "queue.example.com"),
        ("Queue.Example.COM.:8443", "queue.example.com"),
        ("[2001:DB8::1]:443", "2001:db8::1"),
        ("127.0.0.1:8000", "127.0.0.1"),
        ("evil.example/path", None),
        ("a@b", None),
        ("", None),
        ("host:99999x", None),
    ],
)
def test_a_host_header_is_read_as_rfc_9110_writes_it(value: str, expected: str | None) -> None:
    assert host_name(value) == expected
