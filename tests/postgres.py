"""A PostgreSQL for the tests: the one named by WAITLINE_TEST_POSTGRES_URL, else the local server on 5432,
else a throwaway server started from the installed binaries (never a skip)."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(url: str) -> bool:
    async def probe() -> None:
        connection = await asyncpg.connect(url, timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


def _binaries() -> Path:
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


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )


@contextmanager
def throwaway_server() -> Iterator[str]:
    """Start a private PostgreSQL and yield its URL; it is stopped and its files deleted afterwards."""
    bindir = _binaries()
    # Not under pytest's tmp_path: that is private to root, and the server may have to run as postgres.
    workdir = Path(tempfile.mkdtemp(prefix="waitline-postgres-"))
    datadir, socket_dir, log = workdir / "data", workdir / "socket", workdir / "postgres.log"
    datadir.mkdir()
    socket_dir.mkdir()
    log.touch()
    # PostgreSQL refuses to run as root: as root (CI), run it as the postgres user.
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        for path in (workdir, datadir, socket_dir, log):
            shutil.chown(path, "postgres")
    port = free_port()
    options = f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
    pg_ctl = [*as_postgres, str(bindir / "pg_ctl"), "-D", str(datadir)]
    try:
        _run([*as_postgres, str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust"])
        _run([*pg_ctl, "-o", options, "-l", str(log), "-w", "start"])
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            _run([*pg_ctl, "-m", "immediate", "-w", "stop"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


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
