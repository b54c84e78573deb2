"""A private ``redis-server`` for a test, on a free port, keeping nothing on disk; never the machine's own."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.postgres import free_port
from waitline.store.redis_limiter import KEY_PREFIX

STARTUP_SECONDS = 10.0


class RedisServer:
    """A ``redis-server`` of the test's own, on a free port, keeping nothing on disk."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        with (self.workdir / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            try:
                with self.client() as probe:
                    if probe.ping():
                        return
            except redis.RedisError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections, and nothing answers (a hung or partitioned Redis)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def limit_keys(self, pattern: str = f"{KEY_PREFIX}*") -> list[str]:
        with self.client() as client:
            return sorted(key.decode() for key in client.scan_iter(match=pattern))

    def flush(self) -> None:
        with self.client() as client:
            client.flushall()


def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A started private Redis, killed afterwards (the body of a fixture; see ``redis_server`` below)."""
    server = RedisServer(tmp_path / f"redis-{uuid.uuid4().hex[:8]}")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    yield from private_redis(tmp_path)


@pytest.fixture(scope="session")
def session_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One private Redis for the tests that only need a Redis to talk to (keys unique per test)."""
    yield from private_redis(tmp_path_factory.mktemp("redis"))
