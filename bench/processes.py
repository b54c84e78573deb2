"""Real server processes for the bench: ``waitline serve`` and the bare reference app, started on a free
port, waited for, signalled, and their CPU time read from /proc (through psutil)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from tests.postgres import free_port

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_SECONDS = 60.0

# Every scenario runs with the production protections on. One load generator sends everything from
# 127.0.0.1, acting as the load balancer in front of the guests' phones: it is a trusted proxy, and each
# guest's own address travels in X-Forwarded-For. The per-address limit is set out of reach so that it
# never refuses the bench, but it is counted on every join, and so is the per-mobile limit (3/hour, the
# default; every join has its own number). The pool holds 20 connections and keeps them, as the bare app's
# does; the joins scenario also measures waitline's default pool (no WAITLINE_POOL_* at all).
WAITLINE_ENV = {
    "WAITLINE_POOL_SIZE": "20",
    "WAITLINE_POOL_MAX_OVERFLOW": "0",
    "WAITLINE_RATE_LIMIT_PER_IP": "100000000/minute",
    "WAITLINE_RATE_LIMIT_PER_MOBILE": "3/hour",
    "WAITLINE_TRUSTED_PROXIES": "127.0.0.1/32",
    "WAITLINE_LOG_JSON": "true",
    "WAITLINE_LOG_LEVEL": "INFO",
}


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    starts: list[float] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts.append(time.monotonic())
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=1) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not come up in {timeout:.0f} s; see {self.log}")

    def signal(self, signum: int) -> None:
        """Signal the server's main process (uvicorn passes SIGTERM on to its workers)."""
        if self.process is not None and self.process.poll() is None:
            if signum == signal.SIGKILL:
                # A crash takes the whole process tree: kill the workers too.
                os.killpg(self.process.pid, signal.SIGKILL)
            else:
                self.process.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int | None:
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()

    def stop(self) -> int | None:
        self.signal(signal.SIGTERM)
        return self.wait()

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and its worker processes so far."""
        if self.process is None or self.process.poll() is not None:
            return 0.0
        return tree_cpu_seconds(self.process.pid)


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its descendants, including descendants that have exited and been reaped
    (the kernel adds them to their parent's children times): PostgreSQL's backends come and go."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def _listen(port: int) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(port)]


def waitline_server(
    name: str, database_url: str, log: Path, *, workers: int, port: int | None = None, **env: str
) -> Server:
    """``env`` adds to WAITLINE_ENV; a variable given as "" is left unset (waitline's own default)."""
    environment = {**os.environ, **WAITLINE_ENV, "WAITLINE_DATABASE_URL": database_url, **env}
    environment = {name: value for name, value in environment.items() if value != ""}
    port = port or free_port()
    command = [sys.executable, "-m", "waitline", "serve", *_listen(port), "--workers", str(workers)]
    return Server(name=name, command=command, env=environment, log=log, port=port)


def bare_server(name: str, database_url: str, log: Path, *, workers: int, pool_size: int = 20) -> Server:
    environment = {**os.environ, "BARE_DATABASE_URL": database_url, "BARE_POOL_SIZE": str(pool_size)}
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "bench.bare_app:create_app", *_listen(port)]
    command += ["--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    return Server(name=name, command=command, env=environment, log=log, port=port)


class BoxCpu:
    """Busy CPU time of the whole machine, from /proc/stat."""

    def __init__(self) -> None:
        self.cores = os.cpu_count() or 1

    @staticmethod
    def busy_and_total() -> tuple[float, float]:
        with open("/proc/stat") as stat:
            fields = [float(value) for value in stat.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        total = sum(fields[:8])
        ticks = os.sysconf("SC_CLK_TCK")
        return (total - idle) / ticks, total / ticks
