"""An nginx for the tests: Debian's binary, serving deploy/nginx/waitline.conf.

Only what ties the shipped site to one machine is replaced: the listening addresses (ports of our own on
127.0.0.1), the certificate (a self-signed one made here) and the folder of the instances' sockets. Every
replacement must hit, so the test notices when the shipped file changes under it.
"""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests import postgres
from tests.pgbouncer import port_open

SHIPPED_SITE = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "waitline.conf"
BINARY = "/usr/sbin/nginx"
SOCKETS = "/run/waitline/"
START_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class Ports:
    http: int
    https: int
    internal: int


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (certificate, key)."""
    certificate, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True,
    )  # fmt: skip
    return certificate, key


def site(sockets: Path, ports: Ports, certificate: Path, key: Path) -> str:
    """The shipped site, placed on this machine."""
    text = SHIPPED_SITE.read_text()
    replacements = [
        ("listen [::]:80;\n", ""),
        ("listen [::]:443 ssl http2;\n", ""),
        ("listen 80;", f"listen 127.0.0.1:{ports.http};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{ports.https} ssl http2;"),
        ("listen 127.0.0.1:9180;", f"listen 127.0.0.1:{ports.internal};"),
        ("/etc/letsencrypt/live/queue.example.com/fullchain.pem", str(certificate)),
        ("/etc/letsencrypt/live/queue.example.com/privkey.pem", str(key)),
        (SOCKETS, f"{sockets}/"),
    ]
    for shipped, here in replacements:
        assert shipped in text, f"deploy/nginx/waitline.conf no longer has {shipped!r}"
        text = text.replace(shipped, here)
    return text


def main_config(workdir: Path, site_file: Path) -> str:
    """What Debian's /etc/nginx/nginx.conf gives a site, with every file in ``workdir``."""
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "\n".join(f"    {kind}_temp_path {workdir}/{kind}_temp;" for kind in kinds)
    # As root, the workers run as root too: the sockets live in a test's private folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}daemon off;
worker_processes 2;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log info;
events {{
    worker_connections 1024;
}}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {workdir}/access.log;
{temp}
    include {site_file};
}}
"""


def check_config(config: Path) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on a configuration."""
    return subprocess.run(
        [BINARY, "-t", "-c", str(config)], capture_output=True, text=True, timeout=30, check=False
    )


@dataclass
class Nginx:
    ports: Ports
    workdir: Path
    config: Path
    certificate: Path
    process: subprocess.Popen[bytes]

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.ports.https}"

    @property
    def internal_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.internal}"

    def tls(self) -> ssl.SSLContext:
        """Trusts this nginx's certificate (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.certificate))

    def error_log(self) -> str:
        return (self.workdir / "error.log").read_text(errors="replace")


def configure(workdir: Path, sockets: Path) -> tuple[Path, Ports, Path]:
    """Writes nginx.conf and the placed site into ``workdir``: (nginx.conf, ports, certificate)."""
    certificate, key = make_certificate(workdir)
    ports = Ports(http=postgres.free_port(), https=postgres.free_port(), internal=postgres.free_port())
    site_file = workdir / "waitline.conf"
    site_file.write_text(site(sockets, ports, certificate, key))
    config = workdir / "nginx.conf"
    config.write_text(main_config(workdir, site_file))
    return config, ports, certificate


@contextmanager
def running_nginx(sockets: Path) -> Iterator[Nginx]:
    """nginx with the shipped site, in front of instances whose sockets are ``sockets``/a and /b."""
    workdir = Path(tempfile.mkdtemp(prefix="waitline-nginx-"))
    config, ports, certificate = configure(workdir, sockets)
    checked = check_config(config)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(
        [BINARY, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    nginx = Nginx(ports=ports, workdir=workdir, config=config, certificate=certificate, process=process)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not port_open(ports.https):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not come up:\n{nginx.error_log()}")
            time.sleep(0.05)
        yield nginx
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: open streams are closed
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)
