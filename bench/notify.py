"""What notifications cost a join (issue 9), as ratios within one run.

``python -m bench.notify [--seconds 5] [--rounds 2] [--clients 16] [--database sqlite|postgresql]``

One ``waitline serve`` (its worker in-process) texts through the Twilio stand-in (tests/twilio_standin.py).
Joins run closed-loop from ``--clients`` clients over 50 restaurants, in alternating rounds (ABAB):

- ``on`` / ``off``: every restaurant's ``notify`` on (each join also writes its outbox row, and the worker
  sends it) or off (no row, nothing sent). Target: throughput on >= 0.9 x off.
- ``on, waitline worker``: a second server with its own database, ``WAITLINE_NOTIFY_IN_PROCESS=false``, and
  the worker as a process of its own (``waitline worker``), as larger deployments run it.

Each round starts with every outbox drained (a backlog left by the previous round would be sent during the
next, on the same CPUs), and reports how many texts went out during it and how many were still waiting at
its end: a worker that keeps up sends about as many texts as there were joins.
- ``provider timing out``: notify on, the stand-in holding every send past the client's timeout, against
  ``on`` with the stand-in answering at once. Target: the join p95 unchanged (a join never waits on a send).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import text
from tests import postgres
from tests.twilio_standin import TwilioStandIn

from waitline.config import Settings
from waitline.services import Services
from waitline.store import migrations
from waitline.store.engine import make_engine, open_database

RESTAURANTS = 50


async def prepare(url: str) -> None:
    engine = make_engine(Settings(database_url=url))
    try:
        await migrations.upgrade(engine)
    finally:
        await engine.dispose()
    database = open_database(Settings(database_url=url))
    services = Services(database=database)
    for number in range(RESTAURANTS):
        await services.restaurants.create(slug=f"r{number}", name=f"R {number}", default_region="US")
    await database.dispose()


async def set_notify(url: str, on: bool) -> None:
    database = open_database(Settings(database_url=url))
    async with database.transaction() as connection:
        await connection.execute(text("UPDATE restaurant SET notify = :on"), {"on": on})
    await database.dispose()


async def backlog(url: str) -> int:
    """Messages not yet settled in the outbox."""
    database = open_database(Settings(database_url=url))
    try:
        async with database.snapshot() as connection:
            query = text("SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')")
            return int((await connection.execute(query)).scalar_one())
    finally:
        await database.dispose()


async def drained(urls: list[str], within: float = 20.0) -> None:
    """Until no outbox has a message waiting (or ``within`` seconds: a worker starved by a loaded machine may
    not get there)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if sum([await backlog(url) for url in urls]) == 0:
            return
        await asyncio.sleep(0.5)


async def load(base_url: str, seconds: float, clients: int, offset: int) -> tuple[float, float, int]:
    """Joins per second, the p95 latency (ms) and the number of failures."""
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + seconds

    async def client(number: int) -> None:
        nonlocal failures
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            sent = 0
            while time.monotonic() < deadline:
                index = offset + number * 20_000 + sent
                sent += 1
                # A valid US number (exchange 200-999), a different one for every join of the run.
                mobile = f"+1415{200 + index // 10_000 % 800}{index % 10_000:04d}"
                body = {"name": "Bench", "mobileNumber": mobile, "partySize": 2}
                started = time.perf_counter()
                response = await http.post(f"/api/public/r{index % RESTAURANTS}/queue", json=body)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 201:
                    failures += 1

    started = time.monotonic()
    await asyncio.gather(*(client(number) for number in range(clients)))
    elapsed = time.monotonic() - started
    p95 = statistics.quantiles(latencies, n=20)[-1] * 1000 if len(latencies) > 20 else float("nan")
    return len(latencies) / elapsed, p95, failures


def environment(url: str, standin: TwilioStandIn, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        **standin.env(),
        "WAITLINE_DATABASE_URL": url,
        "WAITLINE_RATE_LIMIT_PER_IP": "off",
        "WAITLINE_RATE_LIMIT_PER_MOBILE": "off",
        "WAITLINE_TWILIO_TIMEOUT_SECONDS": "2",
        "WAITLINE_LOG_LEVEL": "WARNING",
        **extra,
    }


def start_worker(url: str, standin: TwilioStandIn, log: Path) -> subprocess.Popen[bytes]:
    """``waitline worker``: the notification worker as a process of its own."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "waitline", "worker"],
            env=environment(url, standin),
            stdout=output,
            stderr=output,
        )


def serve(
    url: str, standin: TwilioStandIn, log: Path, *, in_process: bool = True
) -> tuple[subprocess.Popen[bytes], str]:
    port = postgres.free_port()
    env = environment(url, standin, WAITLINE_NOTIFY_IN_PROCESS="true" if in_process else "false")
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "waitline", "serve", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=output,
        )
    base_url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return process, base_url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(log.read_text())


Result = tuple[float, float, int, int, int]  # joins/s, p95 ms, failed, texts sent during, backlog at end


async def main(arguments: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    admin = postgres.DEFAULT_URL
    names = [f"bench_notify_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    if arguments.database == "postgresql":
        urls = []
        for name in names:
            await postgres.execute(admin, f"CREATE DATABASE {name}")
            urls.append(postgres.with_database(admin, name))
    else:
        urls = [f"sqlite:///{work}/{name}.sqlite3" for name in names]
    url, separate_url = urls
    for each in urls:
        await prepare(each)
    results: dict[str, list[Result]] = {
        "off": [],
        "on": [],
        "on, waitline worker": [],
        "on, provider ok": [],
        "on, provider timing out": [],
    }
    offset = 0
    # The stand-in in a process of its own: its work must not slow the load generator down.
    remote = subprocess.Popen(  # noqa: ASYNC220 (once, before any load)
        [sys.executable, "-m", "tests.twilio_standin"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert remote.stdout is not None
    standin = TwilioStandIn(base_url=remote.stdout.readline().decode().strip())

    def control(**fields: str) -> int:
        return int(httpx.post(f"{standin.base_url}/_control", data=fields).json()["accepted"])

    load_before = os.getloadavg()
    process, base_url = serve(url, standin, work / "server.log")
    separate, separate_base_url = serve(separate_url, standin, work / "server-2.log", in_process=False)
    worker = start_worker(separate_url, standin, work / "worker.log")

    async def measure(mode: str, target_url: str, target_base: str) -> None:
        nonlocal offset
        await drained(urls)
        offset += 500_000
        before = control(mode="timeout", hang="5") if mode.endswith("timing out") else control(mode="ok")
        rate, p95, failed = await load(target_base, arguments.seconds, arguments.clients, offset)
        sent = control() - before
        results[mode].append((rate, p95, failed, sent, await backlog(target_url)))

    try:
        await set_notify(separate_url, True)
        for _ in range(arguments.rounds):
            for mode in ("off", "on", "on, waitline worker"):
                await set_notify(url, mode == "on")
                await measure(
                    mode,
                    separate_url if mode.endswith("worker") else url,
                    (separate_base_url if mode.endswith("worker") else base_url),
                )
        await set_notify(url, True)
        for _ in range(arguments.rounds):
            for mode in ("on, provider ok", "on, provider timing out"):
                await measure(mode, url, base_url)
        control(mode="ok")
        await drained(urls)
        sent = control()
    finally:
        for child in (process, separate, worker):
            child.terminate()
            child.wait(timeout=30)
        remote.kill()
        remote.wait()
    load_after = os.getloadavg()
    if arguments.database == "postgresql":
        for name in names:
            await postgres.execute(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def summary(mode: str) -> tuple[float, float, int, int, int]:
        rows = results[mode]
        return (
            statistics.mean(r[0] for r in rows),
            statistics.mean(r[1] for r in rows),
            sum(r[2] for r in rows),
            sum(r[3] for r in rows),
            max(r[4] for r in rows),
        )

    print(
        f"bench.notify on {arguments.database}: {arguments.clients} clients, {arguments.rounds} rounds of "
        f"{arguments.seconds} s per mode, {RESTAURANTS} restaurants; {sent} texts reached the stand-in; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    print("| mode | joins/s | p95 ms | failed | texts sent during | most waiting at a round's end |")
    print("|---|---|---|---|---|---|")
    for mode in results:
        rate, p95, failed, during, left = summary(mode)
        print(f"| {mode} | {rate:.0f} | {p95:.1f} | {failed} | {during} | {left} |")
    on, off, apart = summary("on"), summary("off"), summary("on, waitline worker")
    ok, slow = summary("on, provider ok"), summary("on, provider timing out")
    print(f"throughput on/off, worker in-process: {on[0] / off[0]:.2f} (target >= 0.9)")
    print(f"throughput on/off, waitline worker process: {apart[0] / off[0]:.2f}")
    print(f"p95 provider timing out / ok: {slow[1] / ok[1]:.2f} (target: about 1)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    asyncio.run(main(parser.parse_args()))
