"""A PostgreSQL for the tests: the one named by WAITLINE_TEST_POSTGRES_URL, else the local server on 5432
(in a run on one process), else a throwaway server started from the installed binaries (never a skip); each
pytest-xdist worker starts its own.

``PostgresServer`` is the one private server of the project: the suite's throwaway one, the outage tests'
(which stop and restart it) and the bench's (tuned, with its own settings) are all made by it."""

from __future__ import annotations

import asyncio
import glob
import itertools
import os
import random
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


# Ports for the servers the tests start, below the kernel's ephemeral range (32768 and up), so that no
# outgoing connection can take one between our choosing it and the server binding it; and a range per
# pytest-xdist worker, so that two workers never choose the same one.
PORTS_PER_WORKER = 2000
FIRST_PORT = 12000
_next_port = itertools.count(random.randrange(PORTS_PER_WORKER))


def free_port() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    base = FIRST_PORT + PORTS_PER_WORKER * (int(worker) if worker.isdigit() else 0)
    for _ in range(PORTS_PER_WORKER):
        port = base + next(_next_port) % PORTS_PER_WORKER
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken, or still in TIME_WAIT
            return port
    raise RuntimeError(f"no free port in {base}..{base + PORTS_PER_WORKER - 1}")


def answers(url: str) -> bool:
    async def probe() -> None:
        connection = await asyncpg.connect(url, timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


def binaries() -> Path:
    """The folder of the installed PostgreSQL server programs (initdb, pg_ctl, postgres)."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = Path(subprocess.check_output([pg_config, "--bindir"], text=True).strip())
        if (bindir / "initdb").exists():
            return bindir
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise RuntimeError("no PostgreSQL server binaries found: install postgresql (apt-get install postgresql)")


# The suite's settings: nothing it does needs its data to survive a crash of the machine.
TEST_SETTINGS: Mapping[str, str] = {"fsync": "off", "max_connections": "300"}


@dataclass
class PostgresServer:
    """A private PostgreSQL in a folder of its own, from the installed binaries, on a free port of
    127.0.0.1. Its ``settings`` go into the data directory's postgresql.auto.conf, so that a restart keeps
    them. PostgreSQL refuses to run as root: as root (CI), every program runs as the postgres user."""

    root: Path
    settings: Mapping[str, str] = field(default_factory=lambda: TEST_SETTINGS)
    bindir: Path = field(default_factory=binaries)
    port: int = field(default_factory=free_port)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def _as_postgres(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def create(self) -> None:
        """initdb, and the settings (with the port and the folder of its socket) written down."""
        socket_dir = self.root / "socket"
        for folder in (self.root, self.datadir, socket_dir):
            folder.mkdir(exist_ok=True)
        self.log.touch()
        if self._as_postgres:
            for path in (self.root, self.datadir, socket_dir, self.log):
                shutil.chown(path, "postgres")
        initdb = [str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres", "--auth=trust"]
        _run([*self._as_postgres, *initdb])
        settings = {
            **self.settings,
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(socket_dir),
        }
        with (self.datadir / "postgresql.auto.conf").open("a") as conf:
            for name, value in settings.items():
                quoted = value.replace("'", "''")
                conf.write(f"{name} = '{quoted}'\n")

    def _pg_ctl(self, *arguments: str) -> None:
        command = [*self._as_postgres, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *arguments]
        _run(command)

    def start(self) -> None:
        # -l: without it, the server would write to (and hold open) our stdout.
        self._pg_ctl("-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m fast``: sessions ended, transactions in flight rolled back, data kept."""
        self._pg_ctl("-l", str(self.log), "-m", mode, "-w", "-t", "60", "restart")

    def pid(self) -> int | None:
        """The postmaster's process id (a restart changes it); None while it is not running."""
        try:
            return int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )


@contextmanager
def throwaway_server(
    settings: Mapping[str, str] = TEST_SETTINGS, *, parent: Path | None = None
) -> Iterator[PostgresServer]:
    """Create and start a private PostgreSQL; afterwards it is stopped and its files deleted."""
    # Not under pytest's tmp_path: that is private to root, and the server may have to run as postgres.
    root = Path(tempfile.mkdtemp(prefix="waitline-postgres-", dir=parent))
    server = PostgresServer(root=root, settings=settings)
    try:
        server.create()
        server.start()
        try:
            yield server
        finally:
            if server.pid() is not None:
                server.stop("immediate")
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def execute(admin_url: str, *statements: str) -> None:
    """Run statements outside a transaction (CREATE/DROP DATABASE need that)."""
    connection = await asyncpg.connect(admin_url, timeout=10)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"
