"""The bench's own PostgreSQL: a private server started from the installed binaries, tuned for a benchmark,
which the fault scenario may restart (``pg_ctl restart -m fast``) without touching anybody else's server.

Durability stays as in production (``fsync=on``, ``synchronous_commit=on``, full-page writes): a 201 from
waitline means the join is on disk, so the bench pays for that too, and so does pgbench beside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.postgres import _binaries, free_port

# Sized for this box (2 cores, 24 GiB) and a run of a few minutes: everything in memory, no checkpoint
# or WAL recycling in the middle of a measurement, no JIT (it only adds start-up cost to short statements).
SETTINGS: dict[str, str] = {
    "max_connections": "300",
    "shared_buffers": "1GB",
    "effective_cache_size": "8GB",
    "work_mem": "8MB",
    "maintenance_work_mem": "256MB",
    "wal_buffers": "32MB",
    "max_wal_size": "8GB",
    "min_wal_size": "1GB",
    "checkpoint_timeout": "30min",
    "checkpoint_completion_target": "0.9",
    "random_page_cost": "1.1",
    "jit": "off",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "log_min_messages": "warning",
    "log_checkpoints": "on",
}


@dataclass
class PrivatePostgres:
    bindir: Path
    datadir: Path
    log: Path
    port: int
    as_postgres: list[str]

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *arguments: str) -> None:
        command = [*self.as_postgres, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *arguments]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(arguments)} failed:\n{result.stdout}{result.stderr}")

    def start(self) -> None:
        self._pg_ctl("-l", str(self.log), "-w", "-t", "60", "start")

    def restart_fast(self) -> tuple[float, float]:
        """``pg_ctl restart -m fast``: sessions are ended, in-flight transactions rolled back; returns the
        monotonic times at which the restart was asked for and at which the server accepted connections."""
        asked = time.monotonic()
        self._pg_ctl("-l", str(self.log), "-m", "fast", "-w", "-t", "60", "restart")
        return asked, time.monotonic()

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")

    def pid(self) -> int | None:
        """The postmaster's process id (it changes on restart)."""
        try:
            return int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def settings_text(self) -> str:
        return ", ".join(f"{name}={value}" for name, value in SETTINGS.items())


@contextmanager
def private_postgres(workdir: Path | None = None) -> Iterator[PrivatePostgres]:
    """Start a tuned private PostgreSQL on a free port; it is stopped and its files deleted afterwards."""
    bindir = _binaries()
    root = Path(tempfile.mkdtemp(prefix="waitline-bench-pg-", dir=workdir))
    datadir, socket_dir, log = root / "data", root / "socket", root / "postgres.log"
    datadir.mkdir()
    socket_dir.mkdir()
    log.touch()
    # PostgreSQL refuses to run as root: as root, run it as the postgres user.
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        for path in (root, datadir, socket_dir, log):
            shutil.chown(path, "postgres")
    server = PrivatePostgres(
        bindir=bindir, datadir=datadir, log=log, port=free_port(), as_postgres=as_postgres
    )
    init = [*as_postgres, str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust"]
    result = subprocess.run(init, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed:\n{result.stdout}{result.stderr}")
    settings = {
        **SETTINGS,
        "port": str(server.port),
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": f"'{socket_dir}'",
    }
    with (datadir / "postgresql.auto.conf").open("a") as conf:
        for name, value in settings.items():
            conf.write(f"{name} = {value}\n")
    try:
        server.start()
        try:
            yield server
        finally:
            server._pg_ctl("-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
