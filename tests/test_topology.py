"""Production as operators run it: Debian's nginx (deploy/nginx/waitline.conf, TLS) in front of two
``waitline serve`` instances on Unix sockets, which reach PostgreSQL through Debian's PgBouncer in
transaction mode (deploy/pgbouncer/pgbouncer.ini) and LISTEN on a direct connection.

- a Friday rush through nginx, while each instance in turn is stopped (SIGTERM) and started again: no
  request fails, and the bench's checker finds the history and the database VALID;
- PgBouncer stopped under the rush: 503s, then recovery, and still VALID;
- live updates reach a page through nginx;
- logs and rate limits see the client's own address behind nginx.

The figures (requests, failures, restart times, how late the live updates came) are appended to
``test-artifacts/topology-figures.jsonl`` as a record, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from bench.checker import Op, check
from bench.runner import postgres_final_state
from bench.rush import FaultEvent, Instances, Rush, RushConfig
from bench.seed import restaurant_id, seed_restaurants, staff_token

from tests import postgres
from tests.conftest import ARTIFACTS, Server, join_body, start_server, stop_server
from tests.nginx import Nginx, check_config, configure, running_nginx
from tests.pgbouncer import PgBouncer, running_pgbouncer
from tests.server_logs import logged_requests
from tests.test_live_updates import Events
from tests.web_helpers import Staff, create_staff, sign_in
from waitline.config import Settings
from waitline.store.engine import open_database

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

FIGURES = ARTIFACTS / "topology-figures.jsonl"
# nginx's fail_timeout (deploy/nginx/waitline.conf) is 1 s, and nginx counts it in whole seconds.
NGINX_FAIL_WINDOW_SECONDS = 2.5
INSTANCES = ("a", "b")
RESTAURANTS = 4
SIGN_INS_PER_MINUTE = 3
# A wait for something that should come at once (a bound, not a measurement).
PATIENCE_SECONDS = 10.0


def record(test: str, **figures: Any) -> None:
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    line = {"test": test, **figures, "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")}
    with FIGURES.open("a", encoding="utf-8") as output:
        output.write(json.dumps(line, default=str) + "\n")


# --- the pieces -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sockets() -> Iterator[Path]:
    """The instances' socket folders, a/ and b/ (reachable by nginx's workers)."""
    folder = Path(tempfile.mkdtemp(prefix="waitline-run-"))
    folder.chmod(0o755)
    for name in INSTANCES:
        (folder / name).mkdir(mode=0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def pgbouncer(postgres_admin_url: str) -> Iterator[PgBouncer]:
    with running_pgbouncer(postgres_admin_url) as bouncer:
        yield bouncer


@pytest.fixture(scope="module")
def nginx(sockets: Path) -> Iterator[Nginx]:
    with running_nginx(sockets) as running:
        yield running


@dataclass
class Topology:
    nginx: Nginx
    pgbouncer: PgBouncer
    direct_url: str
    sockets: Path
    logs: Path
    servers: dict[str, Server] = field(default_factory=dict)

    def start(self, name: str) -> Server:
        server = start_server(
            self.pgbouncer.url(self.direct_url),
            self.logs / f"server-{name}.log",
            unix_socket=self.sockets / name / "http.sock",
            WAITLINE_DATABASE_POOLER="pgbouncer",
            WAITLINE_LISTEN_DATABASE_URL=self.direct_url,
            WAITLINE_SHUTDOWN_DRAIN_SECONDS="1",
            WAITLINE_SECURE_COOKIES="true",
            WAITLINE_RATE_LIMIT_SIGN_IN_PER_IP=f"{SIGN_INS_PER_MINUTE}/minute",
        )
        self.servers[name] = server
        return server

    def restart(self, name: str) -> dict[str, float]:
        """SIGTERM the instance, wait for it to exit, start it again: what each step took."""
        started = time.perf_counter()
        returncode = stop_server(self.servers[name])
        stopped = time.perf_counter()
        assert returncode == 0, self.servers[name].output()[-3000:]
        self.start(name)
        return {
            "stop_seconds": round(stopped - started, 3),
            "start_seconds": round(time.perf_counter() - stopped, 3),
        }

    def client(self, *, source: str = "127.0.0.1", **options: Any) -> httpx.AsyncClient:
        """A client of nginx (https), connecting from ``source`` (any 127.x.y.z is this machine)."""
        transport = httpx.AsyncHTTPTransport(verify=self.nginx.tls(), local_address=source)
        return httpx.AsyncClient(transport=transport, base_url=self.nginx.base_url, **options)


@pytest.fixture
def topology(
    nginx: Nginx,
    pgbouncer: PgBouncer,
    sockets: Path,
    postgres_admin_url: str,
    postgres_template: str,
    tmp_path: Path,
) -> Iterator[Topology]:
    name = f"waitline_topology_{uuid.uuid4().hex[:12]}"
    asyncio.run(postgres.execute(postgres_admin_url, f"CREATE DATABASE {name} TEMPLATE {postgres_template}"))
    direct_url = postgres.with_database(postgres_admin_url, name)
    asyncio.run(seed_restaurants(direct_url, RESTAURANTS))
    topology = Topology(
        nginx=nginx, pgbouncer=pgbouncer, direct_url=direct_url, sockets=sockets, logs=tmp_path
    )
    try:
        for instance in INSTANCES:
            topology.start(instance)
        yield topology
    finally:
        for server in topology.servers.values():
            stop_server(server)
        if pgbouncer.process is None:  # a test failed while it was stopped
            pgbouncer.start()
        asyncio.run(postgres.execute(postgres_admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def test_nginx_accepts_the_shipped_site(tmp_path: Path) -> None:
    config, _, _ = configure(tmp_path, tmp_path / "run")

    checked = check_config(config)

    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


# --- a rush through nginx ---------------------------------------------------------------------------------

RUSH = RushConfig(
    seconds=14.0,
    restaurants=RESTAURANTS,
    joins_per_second=12.0,
    staff_per_restaurant=1,
    call_interval=1.5,
    poll_interval=2.0,
    dashboard_interval=4.0,
    request_timeout=15.0,
    drain_seconds=10.0,
)


def failed(ops: list[Op]) -> list[Op]:
    """Attempts that got no answer, or a 5xx: what a client sees as the service failing."""
    return [op for op in ops if op.status is None or op.status >= 500]


async def rush_through(
    topology: Topology, run: int, faults: Callable[[Rush], Any]
) -> tuple[list[Op], list[FaultEvent]]:
    rush = Rush(RUSH, Instances([topology.nginx.base_url]), run=run, tls=topology.nginx.tls())
    result = await rush.run(faults)
    return result.ops, result.faults


async def verdict(topology: Topology, ops: list[Op]) -> dict[str, Any]:
    return check(ops, await postgres_final_state(topology.direct_url)).as_dict()


async def test_a_rolling_restart_behind_nginx_fails_no_request_and_the_rush_stays_valid(
    topology: Topology,
) -> None:
    old_pids = {name: server.process.pid for name, server in topology.servers.items()}
    restarts: dict[str, dict[str, float]] = {}

    async def rolling_restart(rush: Rush) -> list[FaultEvent]:
        events = []
        await asyncio.sleep(2.0)
        for name in INSTANCES:
            events.append(FaultEvent(at=rush.now(), label=f"restart {name}"))
            restarts[name] = await asyncio.to_thread(topology.restart, name)
            events.append(FaultEvent(at=rush.now(), label=f"{name} serving again"))
            # As README's procedure says: nginx marked the instance failed while it was away, for
            # fail_timeout (1 s) counted in whole seconds, so up to 2 s; the next restart waits that out.
            await asyncio.sleep(NGINX_FAIL_WINDOW_SECONDS)
        return events

    ops, events = await rush_through(topology, 1, rolling_restart)
    result = await verdict(topology, ops)

    bad = failed(ops)
    record(
        "rolling-restart-behind-nginx",
        attempts=len(ops),
        by_kind=Counter(op.kind for op in ops),
        statuses=Counter(str(op.status) for op in ops),
        failed_requests=len(bad),
        restarts=restarts,
        faults=[(round(event.at, 3), event.label) for event in events],
        verdict=result["valid"],
        counts=result["counts"],
    )
    assert [event.label for event in events][-1] == "b serving again"
    assert all(topology.servers[name].process.pid != old_pids[name] for name in INSTANCES)
    assert bad == [], [(op.kind, op.status, op.outcome) for op in bad][:10]
    assert result["valid"], result
    assert result["counts"]["joins_acknowledged"] > 0 and result["counts"]["calls_acknowledged"] > 0


async def test_a_pgbouncer_restart_gives_503s_then_recovers_and_the_rush_stays_valid(
    topology: Topology,
) -> None:
    async def restart_pgbouncer(rush: Rush) -> list[FaultEvent]:
        await asyncio.sleep(3.0)
        stopped = FaultEvent(at=rush.now(), label="pgbouncer stopped")
        await asyncio.to_thread(topology.pgbouncer.stop)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(topology.pgbouncer.start)
        return [stopped, FaultEvent(at=rush.now(), label="pgbouncer started")]

    ops, events = await rush_through(topology, 2, restart_pgbouncer)
    result = await verdict(topology, ops)
    async with topology.client() as client:
        with anyio.fail_after(PATIENCE_SECONDS):
            joined = await client.post("/api/public/r1/queue", json=join_body(9001))
        ready = [await client.get(f"{topology.nginx.internal_url}/{name}/readyz") for name in INSTANCES]

    statuses = Counter(op.status for op in ops)
    back_at = events[1].at
    after = [op for op in ops if (op.invoked or 0) > back_at + 1.0]
    record(
        "pgbouncer-restart-behind-nginx",
        attempts=len(ops),
        statuses=Counter(str(op.status) for op in ops),
        unavailable_503=statuses[503],
        failed_after_recovery=len(failed(after)),
        faults=[(round(event.at, 3), event.label) for event in events],
        verdict=result["valid"],
        counts=result["counts"],
    )
    assert statuses[503] > 0, statuses
    assert set(statuses) <= {200, 201, 204, 409, 503}, statuses  # 503s, never a 500 or a 502
    assert joined.status_code == 201, joined.text
    assert [response.status_code for response in ready] == [200, 200]
    assert result["valid"], result


# --- live pages and client addresses ----------------------------------------------------------------------


UPDATES = 3


async def test_live_updates_reach_a_page_through_nginx(topology: Topology) -> None:
    headers = {"Authorization": f"Bearer {staff_token(1)}"}
    lateness = []
    async with topology.client(timeout=httpx.Timeout(5, read=None)) as client:
        for index in range(UPDATES):
            entry = (await client.post("/api/public/r1/queue", json=join_body(index))).json()
            async with client.stream("GET", f"/r1/e/{entry['id']}/live") as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                events = Events(response.aiter_lines())
                await events.update_containing('data-status="waiting"')
                called = await client.post(f"/api/admin/{restaurant_id(1)}/queue/call-next", headers=headers)
                answered = time.perf_counter()
                assert called.json()["id"] == entry["id"]
                await events.update_containing('data-status="called"')
                lateness.append(round(time.perf_counter() - answered, 4))

    record("live-updates-through-nginx", seconds_after_the_call_was_answered=lateness)


async def test_logs_and_limits_see_the_clients_own_address_behind_nginx(topology: Topology) -> None:
    database = open_database(Settings(database_url=topology.direct_url))
    try:
        staff: Staff = await create_staff(database, "r1")
    finally:
        await database.dispose()

    async with topology.client(source="127.0.0.2") as first, topology.client(source="127.0.0.3") as second:
        # What a client writes in X-Forwarded-For itself proves nothing.
        forged = {"X-Forwarded-For": "198.51.100.9"}
        joined = await first.post("/api/public/r1/queue", json=join_body(1), headers=forged)
        first_tries = [
            (await sign_in(first, staff, password="not the password")).status_code
            for _ in range(SIGN_INS_PER_MINUTE + 1)
        ]
        second_try = (await sign_in(second, staff, password="not the password")).status_code
    logged = await logged_requests(list(topology.servers.values()), "/api/public/{slug}/queue")

    assert joined.status_code == 201
    assert 429 not in first_tries[:-1] and first_tries[-1] == 429, first_tries
    assert second_try != 429
    assert [event["client"] for event in logged] == ["127.0.0.2"]


async def test_nginx_refuses_a_body_over_the_limit(topology: Topology) -> None:
    async with topology.client() as client:
        refused = await client.post("/api/public/r1/queue", content=b"x" * (65 * 1024))

    assert refused.status_code == 413
