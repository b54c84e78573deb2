"""The request line and headers are bounded in size and in time, whichever HTTP parser uvicorn runs.

Against real ``waitline serve`` processes over raw sockets: a head over ``WAITLINE_MAX_HEADER_BYTES`` gets 431
problem+json and the connection is closed; hundreds of megabytes of headers leave the server's memory where it
was; a head that does not complete within ``WAITLINE_HEADER_TIMEOUT_SECONDS`` gets 408, however slowly it
trickles in; and the deadline ends with the head, so a slow body or a long answer is never cut off by it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import Server

MAX_HEADER_BYTES = 16 * 1024
# Generous bounds for a socket to answer or close: reached only when the server fails to.
SOCKET_WAIT_SECONDS = 30.0


@pytest.fixture
def database_url(sqlite_database_url: str) -> str:
    """The limits work below the app, before any database is asked: SQLite only, here."""
    return sqlite_database_url


@pytest.fixture(params=["httptools", "h11"])
def implementation(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def start(
    server_factory: Callable[..., Server], database_url: str, implementation: str
) -> Callable[..., Server]:
    def start(**env: str) -> Server:
        return server_factory(database_url, WAITLINE_HTTP_IMPLEMENTATION=implementation, **env)

    return start


def connect(server: Server) -> socket.socket:
    address = urlsplit(server.base_url)
    connection = socket.create_connection((address.hostname, address.port), timeout=SOCKET_WAIT_SECONDS)
    return connection


def read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a timeout fails the test)."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def head(*, padding: int = 0, connection: str = "close") -> bytes:
    """A GET of /healthz whose head is ``padding`` bytes longer than the bare one, through one header."""
    lines = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: {connection}\r\n"
    if padding:
        lines += "X-Padding: " + "a" * (padding - len("X-Padding: \r\n")) + "\r\n"
    return (lines + "\r\n").encode()


def padded_to(total: int, *, connection: str = "close") -> bytes:
    return head(padding=total - len(head(connection=connection)), connection=connection)


def status_and_body(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head_part, _, body = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head_part.decode("latin-1").split("\r\n")
    fields = (line.partition(":") for line in header_lines)
    headers = {name.lower(): value.strip() for name, _, value in fields}
    return int(status_line.split()[1]), headers, body


def peak_rss_bytes(pid: int) -> int:
    """The most memory the process has held at any time (its resident set's high-water mark)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


# --- size ---------------------------------------------------------------------------------------------------


def test_a_head_at_the_limit_is_served_and_one_byte_more_gets_431(start: Callable[..., Server]) -> None:
    server = start()
    at_limit, over_limit = padded_to(MAX_HEADER_BYTES), padded_to(MAX_HEADER_BYTES + 1)
    assert (len(at_limit), len(over_limit)) == (MAX_HEADER_BYTES, MAX_HEADER_BYTES + 1)

    answers = []
    for request in (at_limit, over_limit):
        with connect(server) as connection:
            connection.sendall(request)
            answers.append(status_and_body(read_until_closed(connection)))

    (served, _, _), (refused, headers, body) = answers
    assert served == 200
    assert refused == 431
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    problem = json.loads(body)
    assert (problem["status"], problem["type"]) == (431, "urn:waitline:problem:headers-too-large")
    assert '"event": "http.head_too_large"' in server.output()


def test_the_limit_is_configurable(start: Callable[..., Server]) -> None:
    server = start(WAITLINE_MAX_HEADER_BYTES="2048")

    with connect(server) as connection:
        connection.sendall(padded_to(2049))
        refused, _, _ = status_and_body(read_until_closed(connection))
    with connect(server) as connection:
        connection.sendall(padded_to(2048))
        served, _, _ = status_and_body(read_until_closed(connection))

    assert (refused, served) == (431, 200)


def send_huge_head(server: Server, megabytes: int) -> tuple[int | None, int]:
    """Sends a GET whose one header goes on for ``megabytes``; (the status answered, or None if the
    connection was reset first; the bytes sent before the server stopped taking them)."""
    chunk = b"a" * (1 << 20)
    sent = 0
    with connect(server) as connection:
        try:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: ")
            for _ in range(megabytes):
                connection.sendall(chunk)
                sent += len(chunk)
            connection.sendall(b"\r\n\r\n")
            return status_and_body(read_until_closed(connection))[0], sent
        except (BrokenPipeError, ConnectionResetError):
            return None, sent


def test_hundreds_of_megabytes_of_headers_leave_the_server_memory_flat(start: Callable[..., Server]) -> None:
    """Four clients at once, 64 MB of header each (the probe's httptools server grew by 530 MB, for good)."""
    server = start()
    with connect(server) as connection:  # warm up: one ordinary request first
        connection.sendall(head())
        assert status_and_body(read_until_closed(connection))[0] == 200
    before = peak_rss_bytes(server.process.pid)

    outcomes: list[tuple[int | None, int]] = []
    clients = [threading.Thread(target=lambda: outcomes.append(send_huge_head(server, 64))) for _ in range(4)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    after = peak_rss_bytes(server.process.pid)

    megabytes = f"{before / 2**20:.1f} MB before, {after / 2**20:.1f} MB after"
    print(f"server peak RSS: {megabytes} 4 x 64 MB of headers")
    print(f"answers (status, bytes sent): {sorted(outcomes, key=str)}")
    assert len(outcomes) == 4
    # Each got 431, or (had it sent on past the linger) a reset: never an answer to the request.
    assert {status for status, _ in outcomes} <= {431, None}
    assert after - before < 16 * 2**20


# --- time ---------------------------------------------------------------------------------------------------


def test_a_head_left_incomplete_gets_408_after_the_timeout(start: Callable[..., Server]) -> None:
    server = start(WAITLINE_HEADER_TIMEOUT_SECONDS="1")

    with connect(server) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
        status, headers, body = status_and_body(read_until_closed(connection))

    assert status == 408
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["type"] == "urn:waitline:problem:request-timeout"
    assert '"event": "http.head_timeout"' in server.output()


def test_a_connection_that_sends_nothing_is_closed_after_the_timeout(start: Callable[..., Server]) -> None:
    server = start(WAITLINE_HEADER_TIMEOUT_SECONDS="1")

    with connect(server) as connection:
        assert read_until_closed(connection) == b""


def test_a_head_trickling_in_is_cut_off_all_the_same(start: Callable[..., Server]) -> None:
    """A byte every 0.1 s would keep any idle timer from firing; the deadline counts from the first byte."""
    server = start(WAITLINE_HEADER_TIMEOUT_SECONDS="1")
    trickle = iter(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 300)

    with connect(server) as connection:
        connection.settimeout(0.1)
        received = b""
        for byte in trickle:
            try:
                connection.sendall(bytes([byte]))
                received += connection.recv(65536)
                break  # the server answered (or closed)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        else:
            pytest.fail("the server took 300 bytes at 0.1 s each (30 s) and never cut the head off")
        connection.settimeout(SOCKET_WAIT_SECONDS)
        received += read_until_closed(connection)

    assert status_and_body(received)[0] == 408


def test_the_deadline_ends_with_the_head(start: Callable[..., Server]) -> None:
    """A body that comes slowly, and the time the answer takes, are not the head's: no 408 for them."""
    server = start(WAITLINE_HEADER_TIMEOUT_SECONDS="1")
    body = json.dumps({"name": "Ada", "mobileNumber": "+14155550101", "partySize": 2}).encode()

    with connect(server) as connection:
        connection.sendall(
            b"POST /api/public/nowhere/queue HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        time.sleep(2.5)  # the head is complete: the deadline must be gone
        connection.sendall(body)
        status, _, answer = status_and_body(read_until_closed(connection))

    assert status == 404
    assert json.loads(answer)["type"] == "urn:waitline:problem:restaurant-not-found"


def test_keep_alive_requests_each_get_their_own_allowance(start: Callable[..., Server]) -> None:
    server = start()
    keep_alive = padded_to(MAX_HEADER_BYTES, connection="keep-alive")

    with connect(server) as connection:
        for _ in range(3):
            connection.sendall(keep_alive)
            answer = b""
            while not answer.endswith(b'{"status":"ok"}'):
                answer += connection.recv(65536)
            assert status_and_body(answer)[0] == 200
