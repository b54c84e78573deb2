"""A PgBouncer for the tests: Debian's binary, run with deploy/pgbouncer/pgbouncer.ini.

Only what ties the shipped file to one machine is replaced (addresses, files, authentication); its pool mode,
sizes and timeouts are the ones operators get. Every database name is passed through to the PostgreSQL
given, so each test's own database is reachable through it.
"""

from __future__ import annotations

import configparser
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from tests import postgres

SHIPPED_CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "pgbouncer" / "pgbouncer.ini"
BINARY = "/usr/sbin/pgbouncer"
START_TIMEOUT_SECONDS = 20.0


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def shipped_config() -> configparser.ConfigParser:
    config = configparser.ConfigParser(interpolation=None, comment_prefixes=(";", "#"))
    config.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    config.read(SHIPPED_CONFIG)
    return config


@dataclass
class PgBouncer:
    port: int
    workdir: Path
    config: Path
    process: subprocess.Popen[bytes] | None = None

    def url(self, database_url: str) -> str:
        """``database_url`` (a direct PostgreSQL URL) as reached through this PgBouncer."""
        return make_url(database_url).set(host="127.0.0.1", port=self.port).render_as_string(False)

    @property
    def log(self) -> Path:
        return self.workdir / "pgbouncer.log"

    def start(self) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.process = subprocess.Popen(
            [*as_postgres, BINARY, str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited with {self.process.returncode}:\n{self.output()}")
            if port_open(self.port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"pgbouncer did not come up:\n{self.output()}")

    def stop(self) -> None:
        """Immediate shutdown (SIGTERM): every client connection is dropped, as when the pooler dies."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextmanager
def running_pgbouncer(postgres_url: str) -> Iterator[PgBouncer]:
    """A PgBouncer with the shipped configuration in front of the PostgreSQL of ``postgres_url``."""
    target = make_url(postgres_url)
    # Readable by the postgres user, as whom it runs when we are root.
    workdir = Path(tempfile.mkdtemp(prefix="waitline-pgbouncer-"))
    port = postgres.free_port()
    config = shipped_config()
    config["databases"] = {"*": f"host={target.host} port={target.port or 5432}"}
    settings = config["pgbouncer"]
    settings.update(
        {
            "listen_addr": "127.0.0.1",
            "listen_port": str(port),
            "unix_socket_dir": "",
            "logfile": str(workdir / "pgbouncer.log"),
            "pidfile": str(workdir / "pgbouncer.pid"),
            # The test server trusts local connections; the user must still be listed.
            "auth_type": "trust",
            "auth_file": str(workdir / "userlist.txt"),
        }
    )
    (workdir / "userlist.txt").write_text(f'"{target.username}" ""\n')
    path = workdir / "pgbouncer.ini"
    with path.open("w") as output:
        config.write(output)
    if os.geteuid() == 0:
        for owned in (workdir, *workdir.iterdir()):
            shutil.chown(owned, "postgres")
    bouncer = PgBouncer(port=port, workdir=workdir, config=path)
    bouncer.start()
    try:
        yield bouncer
    finally:
        bouncer.stop()
        shutil.rmtree(workdir, ignore_errors=True)
