"""SIGTERM drains before it stops: /readyz turns 503 while the instance still serves, and on a Unix socket
the path goes first, so a proxy's next connection is refused (and sent elsewhere) while whatever reached the
socket is still answered. Behind a proxy on the Unix socket, the client is the forwarded address."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import pytest

from tests.conftest import Server, StaffRestaurant, join_body
from tests.server_logs import log_events, logged_requests

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

DRAIN_SECONDS = "3"
CONNECTING_CLIENTS = 20
# A wait for something that should happen at once (a bound, not a measurement).
PATIENCE_SECONDS = 10


async def wait_for_exit(server: Server) -> int:
    return await asyncio.to_thread(server.process.wait, PATIENCE_SECONDS + float(DRAIN_SECONDS))


async def readiness_after_sigterm(client: httpx.AsyncClient, server: Server) -> httpx.Response:
    """SIGTERM, then /readyz until it says 503 (it says so at once, but the signal takes a moment)."""
    server.process.send_signal(signal.SIGTERM)
    with anyio.fail_after(PATIENCE_SECONDS):
        while True:
            ready = await client.get("/readyz")
            if ready.status_code == 503:
                return ready
            await anyio.sleep(0.02)


async def test_after_sigterm_readiness_is_503_while_requests_are_still_served(
    server_factory: Callable[..., Server], database_url: str, restaurant: StaffRestaurant
) -> None:
    server = server_factory(database_url, WAITLINE_SHUTDOWN_DRAIN_SECONDS=DRAIN_SECONDS)
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        assert (await client.get("/readyz")).status_code == 200

        not_ready = await readiness_after_sigterm(client, server)
        joined = await client.post(f"{restaurant.public}/queue", json=join_body(1))
        fresh = httpx.AsyncClient(base_url=server.base_url)  # a new connection is still taken
        async with fresh:
            health = await fresh.get("/healthz")

    assert not_ready.json()["detail"] == "This instance is shutting down."
    assert not_ready.headers["retry-after"].isdigit()
    assert joined.status_code == 201
    assert health.status_code == 200
    assert await wait_for_exit(server) == 0
    assert any(event.get("event") == "shutdown.draining" for event in log_events(server))


async def test_on_a_unix_socket_sigterm_removes_the_path_and_still_answers_what_reached_it(
    server_factory: Callable[..., Server], database_url: str, restaurant: StaffRestaurant, tmp_path: Path
) -> None:
    socket_path = tmp_path / "waitline.sock"
    server = server_factory(
        database_url, unix_socket=socket_path, WAITLINE_SHUTDOWN_DRAIN_SECONDS=DRAIN_SECONDS
    )
    transport = httpx.AsyncHTTPTransport(uds=str(socket_path))
    async with httpx.AsyncClient(transport=transport, base_url=server.base_url) as client:
        assert (await client.get("/readyz")).status_code == 200  # this connection is kept open

        await readiness_after_sigterm(client, server)
        path_left = socket_path.exists()
        joined = await client.post(f"{restaurant.public}/queue", json=join_body(1))
        with pytest.raises(FileNotFoundError), socket.socket(socket.AF_UNIX) as newcomer:
            newcomer.connect(str(socket_path))

    assert not path_left
    assert joined.status_code == 201
    assert await wait_for_exit(server) == 0


async def test_behind_a_proxy_on_the_unix_socket_the_client_is_the_address_it_forwarded(
    server_factory: Callable[..., Server], database_url: str, restaurant: StaffRestaurant, tmp_path: Path
) -> None:
    server = server_factory(database_url, unix_socket=tmp_path / "waitline.sock")
    transport = httpx.AsyncHTTPTransport(uds=str(tmp_path / "waitline.sock"))
    async with httpx.AsyncClient(transport=transport, base_url=server.base_url) as client:
        # What nginx sends: whatever the client claimed, then the address nginx saw.
        forged = {"X-Forwarded-For": "192.0.2.66, 203.0.113.7"}
        joined = await client.post(f"{restaurant.public}/queue", json=join_body(1), headers=forged)
    (logged,) = await logged_requests([server], "/api/public/{slug}/queue")

    assert joined.status_code == 201
    assert logged["client"] == "203.0.113.7"


async def test_on_a_unix_socket_a_sigterm_resets_no_connection(
    server_factory: Callable[..., Server], sqlite_database_url: str, tmp_path: Path
) -> None:
    """Clients connect over and over, each sending a request at once (as nginx does), through the SIGTERM:
    each connection is answered or refused before anything is sent, never reset after its request went."""
    socket_path = tmp_path / "waitline.sock"
    server = server_factory(
        sqlite_database_url, unix_socket=socket_path, WAITLINE_SHUTDOWN_DRAIN_SECONDS="0.5"
    )
    outcomes: Counter[str] = Counter()
    exited = asyncio.Event()

    async def connect_over_and_over() -> None:
        while not exited.is_set():
            try:
                reader, writer = await asyncio.open_unix_connection(str(socket_path))
            except (FileNotFoundError, ConnectionRefusedError):
                outcomes["refused"] += 1
                await asyncio.sleep(0.001)
                continue
            try:
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: waitline.test\r\nConnection: close\r\n\r\n")
                answer = await reader.read()
                outcomes["answered" if answer.startswith(b"HTTP/1.1 200") else "reset"] += 1
            except (ConnectionResetError, BrokenPipeError):
                outcomes["reset"] += 1
            finally:
                writer.close()

    async def stop() -> None:
        await asyncio.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        await wait_for_exit(server)
        await asyncio.sleep(0.2)
        exited.set()

    async with asyncio.timeout(PATIENCE_SECONDS * 3):
        await asyncio.gather(stop(), *(connect_over_and_over() for _ in range(CONNECTING_CLIENTS)))

    assert outcomes["reset"] == 0, outcomes
    assert outcomes["answered"] > 0 and outcomes["refused"] > 0, outcomes
