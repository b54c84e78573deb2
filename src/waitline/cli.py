"""The ``waitline`` command: migrate, serve, set up restaurants, staff and tokens, check the event log.

A composition root like web/app.py: it opens the database and builds the services for each command.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click
import prometheus_client
import uvicorn

from waitline import auth
from waitline.config import Settings
from waitline.domain import RESERVED_SLUGS, SLUG_PATTERN, RestaurantNotFound, Role, WaitlineError
from waitline.observability import MessageMetrics, Metrics, configure_logging
from waitline.services import Services
from waitline.services.notifier import build_notifier
from waitline.store import migrations
from waitline.store.backup import BackupFailed, sqlite_backup
from waitline.store.engine import open_database
from waitline.web import request_head
from waitline.web.draining import remove_socket_path

T = TypeVar("T")

DEMO_SLUG = "demo"
DEMO_STAFF_EMAIL = "staff@demo.test"


def _run(use_case: Callable[[Services], Awaitable[T]], settings: Settings | None = None) -> T:
    """Run one use case against a database opened for it, and close the database afterwards."""
    settings = settings or Settings()

    async def main() -> T:
        database = open_database(settings)
        try:
            return await use_case(Services(database=database))
        finally:
            await database.dispose()

    try:
        return asyncio.run(main())
    except WaitlineError as error:
        raise click.ClickException(error.detail) from None


def _migrate(settings: Settings) -> None:
    async def main() -> None:
        database = open_database(settings)
        try:
            await migrations.upgrade(database.engine)
        finally:
            await database.dispose()

    asyncio.run(main())


def _validate_slug(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not re.fullmatch(SLUG_PATTERN, value):
        raise click.BadParameter("use 1-63 lowercase letters, digits and inner hyphens, e.g. 'luigis-soho'")
    if value in RESERVED_SLUGS:
        raise click.BadParameter(f"{value!r} is a path of the web app; choose another slug")
    return value


def _validate_email(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value.strip()):
        raise click.BadParameter("give an email address, e.g. ada@example.com")
    return value.strip()


def _validate_region(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[A-Za-z]{2}", value):
        raise click.BadParameter("use a two-letter ISO 3166 region code, e.g. GB or US")
    return value.upper() if value else None


@click.group()
def main() -> None:
    """waitline: a virtual queue for restaurants. Configure it with WAITLINE_* environment variables."""


@main.command()
def migrate() -> None:
    """Bring the database to the newest schema."""
    _migrate(Settings())
    click.echo("database is at the newest schema", err=True)


@main.group()
def audit() -> None:
    """The audit trail of admin actions, hash-chained per organisation."""


@audit.command("verify")
def audit_verify() -> None:
    """Walk every organisation's audit chain from seq 1. Exits 0 when all are intact; otherwise exits 1 and
    names each organisation's first bad seq (an entry changed, removed or inserted by hand)."""
    verdicts = _run(lambda services: services.admin.verify_audit())
    broken = False
    for name, checked, problem in verdicts:
        if problem is None:
            click.echo(f"{name}: the audit trail is intact: {checked} entries")
        else:
            broken = True
            click.echo(f"{name}: the audit trail is broken at seq {problem.seq}: {problem.problem}", err=True)
    if broken:
        sys.exit(1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Migrate, then serve HTTP until SIGTERM (in-flight requests finish first).

    With WAITLINE_UNIX_SOCKET set, on that Unix socket instead of --host and --port."""
    settings = Settings()
    _migrate(settings)
    _serve(settings, host=host, port=port, workers=workers)


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    sys.exit(0)


def _serve(settings: Settings, *, host: str, port: int, workers: int) -> None:
    # Once its graceful shutdown is done, uvicorn restores this handler and raises the SIGTERM it caught
    # again: a shutdown that was asked for and completed then exits 0, not 143 (killed by SIGTERM).
    signal.signal(signal.SIGTERM, _exit_cleanly)
    configure_logging(json=settings.log_json)
    # Each worker sizes its database pool from how many share the database (Settings.pool_connections).
    os.environ["WAITLINE_WORKERS"] = str(workers)
    metrics_folder = None
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each worker writes its metrics here; /metrics of any worker sums them all.
        metrics_folder = tempfile.mkdtemp(prefix="waitline-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_folder
    try:
        _run_uvicorn(settings, host=host, port=port, workers=workers)
    finally:
        if metrics_folder is not None:
            shutil.rmtree(metrics_folder, ignore_errors=True)


def _run_uvicorn(settings: Settings, *, host: str, port: int, workers: int) -> None:
    where: dict[str, Any] = {"host": host, "port": port}
    if settings.unix_socket:
        _claim_unix_socket(settings.unix_socket)
        where = {"uds": settings.unix_socket}
    uvicorn.run(
        "waitline.web.app:app_from_environment",
        factory=True,
        **where,
        workers=workers,
        # Forwarded headers are trusted only as waitline's own settings say, never by uvicorn's default.
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=int(settings.graceful_shutdown_seconds),
        http=request_head.protocol(
            settings.http_implementation,
            request_head.HeadLimits(
                max_bytes=settings.max_header_bytes, timeout_seconds=settings.header_timeout_seconds
            ),
        ),
        h11_max_incomplete_event_size=settings.max_header_bytes,
        log_config=None,
    )


def _claim_unix_socket(path: str) -> None:
    """Remove a socket file a killed server left behind; refuse one that a running server answers on."""
    if not os.path.exists(path):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        answered = probe.connect_ex(path) == 0
    if answered:
        raise click.ClickException(f"another server is listening on {path}")
    remove_socket_path(path)


@main.command()
@click.option("--to", "target", required=True, type=click.Path(dir_okay=False, path_type=Path))
def backup(target: Path) -> None:
    """SQLite: copy the database to FILE while it serves (an online backup). PostgreSQL: use pg_dump."""
    settings = Settings()
    database = settings.async_url.database
    if not settings.is_sqlite or not database or database == ":memory:":
        raise click.ClickException("on PostgreSQL, back up with pg_dump (README.md, 'Backups')")
    try:
        made = sqlite_backup(
            Path(database), target, busy_timeout_seconds=settings.transaction_timeout_seconds
        )
    except BackupFailed as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps({"backup": str(made.path), "pages": made.pages, "bytes": made.bytes}))


@main.group()
def restaurant() -> None:
    """Restaurants (each has one queue)."""


@restaurant.command("create")
@click.option("--slug", required=True, callback=_validate_slug, help="The address: /api/public/<slug>.")
@click.option("--name", required=True)
@click.option("--region", callback=_validate_region, help="Country that national mobile numbers are read in.")
def restaurant_create(slug: str, name: str, region: str | None) -> None:
    """Create a restaurant and print it as JSON."""
    created = _run(lambda services: services.restaurants.create(slug=slug, name=name, default_region=region))
    click.echo(json.dumps({"id": str(created.id), "slug": created.slug, "name": created.name}))


@main.group()
def token() -> None:
    """Staff API tokens."""


@token.command("create")
@click.option("--restaurant", "slug", required=True, help="The restaurant's slug.")
def token_create(slug: str) -> None:
    """Create a staff token for a restaurant and print it (it is shown only this once)."""
    secret = _run(lambda services: services.accounts.create_api_token(slug=slug))
    click.echo(json.dumps({"token": secret}))


@main.group()
def staff() -> None:
    """Staff logins for the web dashboard."""


@staff.command("create")
@click.option("--restaurant", "slug", required=True, help="The restaurant's slug.")
@click.option("--email", required=True, callback=_validate_email)
def staff_create(slug: str, email: str) -> None:
    """Create a staff login. The password is read from standard input (its first line) when it is piped in;
    otherwise one is generated and printed (it is shown only this once)."""
    password, generated = _password_from_stdin()
    created = _run(lambda services: services.accounts.create_staff(slug=slug, email=email, password=password))
    shown: dict[str, str] = {"restaurant": slug, "email": created.email}
    if generated:
        shown["password"] = password
    click.echo(json.dumps(shown))


def _password_from_stdin() -> tuple[str, bool]:
    """The first line of standard input when it is piped in; otherwise a generated one (and True)."""
    piped = not sys.stdin.isatty()
    password = sys.stdin.readline().rstrip("\r\n") if piped else ""
    if password:
        return password, False
    return auth.new_password(), True


@main.group()
def owner() -> None:
    """Owners: they run their organisation's locations, staff and tokens from the browser (/admin)."""


@owner.command("create")
@click.option("--email", required=True, callback=_validate_email)
@click.option("--organisation", default=None, help="The organisation's name (default: the email's domain).")
def owner_create(email: str, organisation: str | None) -> None:
    """Create an organisation and its first owner. The password is read from standard input (its first
    line) when it is piped in; otherwise one is generated and printed (it is shown only this once)."""
    password, generated = _password_from_stdin()
    name = organisation or email.rpartition("@")[2] or email
    created = _run(
        lambda services: services.access.create_owner(email=email, password=password, organisation=name)
    )
    shown: dict[str, str] = {"email": created.email or email, "organisation": name}
    if generated:
        shown["password"] = password
    click.echo(json.dumps(shown))


@main.group()
def events() -> None:
    """The event log: every change of a queue, hash-chained."""


@events.command("verify")
@click.option("--restaurant", "slug", required=True, help="The restaurant's slug.")
def events_verify(slug: str) -> None:
    """Walk the restaurant's hash chain from seq 1. Exits 0 when it is intact; otherwise exits 1 and names the
    first bad seq (an event changed, removed or inserted by hand)."""
    verdict = _run(lambda services: services.events.verify(slug=slug))
    if verdict.broken is None:
        click.echo(f"{slug}: the event log is intact: {verdict.checked} events, seq 1 to {verdict.head_seq}")
        return
    click.echo(
        f"{slug}: the event log is broken at seq {verdict.broken.seq}: {verdict.broken.problem} "
        f"({verdict.checked} events before it verified)",
        err=True,
    )
    sys.exit(1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
def demo(host: str, port: int) -> None:
    """Serve with a demo restaurant, printing its pages, a staff login and a fresh staff API token.

    The demo staff login gets a new generated password on every run (only its hash is stored, so an old
    one could not be shown again)."""
    settings = Settings()
    _migrate(settings)
    password = auth.new_password()

    async def set_up(services: Services) -> tuple[str, str]:
        try:
            found = await services.restaurants.get(slug=DEMO_SLUG)
        except RestaurantNotFound:
            found = await services.restaurants.create(slug=DEMO_SLUG, name="Demo Bistro", default_region="US")
        # A manager: the dashboard, and the location's texts and analytics pages too.
        await services.accounts.create_staff(
            slug=DEMO_SLUG, email=DEMO_STAFF_EMAIL, password=password, reset_existing=True, role=Role.MANAGER
        )
        return str(found.id), await services.accounts.create_api_token(slug=DEMO_SLUG)

    restaurant_id, secret = _run(set_up, settings)
    base = f"http://{host}:{port}"
    click.echo(
        f"""
waitline is serving the demo restaurant on {settings.database_url}

  Join the queue (guests):  {base}/{DEMO_SLUG}
  Staff dashboard:          {base}/staff/{DEMO_SLUG}
    email:                  {DEMO_STAFF_EMAIL}
    password:               {password}
  Now-serving board (TV):   {base}/{DEMO_SLUG}/board
  Analytics (same login):   {base}/staff/{DEMO_SLUG}/analytics

  Guest API:    {base}/api/public/{DEMO_SLUG}
  API docs:     {base}/docs
  Staff token:  {secret}
  Staff API:    {base}/api/admin/{restaurant_id}/queue

Open the join page in one tab and join; sign in to the dashboard in another and call that party.

Try:
  curl -s -X POST {base}/api/public/{DEMO_SLUG}/queue -H 'content-type: application/json' \\
       -d '{{"name": "Ada", "mobileNumber": "415 555 0101", "partySize": 2}}'
  curl -s -X POST {base}/api/admin/{restaurant_id}/queue/call-next -H 'authorization: Bearer {secret}'
""",
        err=True,
    )
    sys.stderr.flush()
    _serve(settings, host=host, port=port, workers=1)


@main.command()
@click.option("--metrics-port", type=click.IntRange(0, 65535), help="Serve Prometheus metrics on this port.")
def worker(metrics_port: int | None) -> None:
    """Run the notification worker on its own until SIGTERM or SIGINT (set WAITLINE_NOTIFY_IN_PROCESS=false
    on the servers then). Several may run at once: each claims different messages."""
    settings = Settings()
    configure_logging(json=settings.log_json)
    _migrate(settings)

    async def main() -> None:
        database = open_database(settings)
        metrics = Metrics()
        if metrics_port is not None:
            prometheus_client.start_http_server(metrics_port, addr="127.0.0.1", registry=metrics.registry)
        notifier = build_notifier(settings, database=database, observer=MessageMetrics(metrics))
        notifier.sweep_with(Services(database=database).holds.expire)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            await notifier.run(stop)
        finally:
            await notifier.close()
            await database.dispose()

    asyncio.run(main())
