"""The bench's plan and scenarios 1-5 against real ``waitline serve`` processes on a private PostgreSQL
(and the join scenario on SQLite), with pgbench and the bare app beside them, and the checker over every
history. ``bench/main.py`` runs them (``python -m bench --help``); ``bench/cost.py`` holds scenarios 6-7."""

from __future__ import annotations

import asyncio
import math
import resource
import signal
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tests.postgres import PostgresServer

from bench import checker, loadgen, profile, report, seed
from bench.checker import FinalState, Op
from bench.final_state import postgres_final_state, sqlite_final_state
from bench.loadgen import CpuProbe, Measurement, WrkLog
from bench.markdown import pct
from bench.processes import Server, bare_server, waitline_server
from bench.rush import FaultEvent, Instances, Rush, RushConfig, RushResult


@dataclass(frozen=True)
class Plan:
    restaurants: int = seed.RESTAURANTS
    concurrencies: tuple[int, ...] = (1, 8, 32, 64)
    call_next_concurrencies: tuple[int, ...] = (8, 32)
    seconds: int = 5
    warmup_seconds: int = 1
    workers: int = 2
    rush: RushConfig = field(default_factory=lambda: RushConfig(seconds=120))
    faults: RushConfig = field(default_factory=lambda: RushConfig(seconds=90))
    # When, as fractions of the fault run, PostgreSQL restarts, one instance is killed, one is stopped.
    fault_points: tuple[float, float, float] = (0.22, 0.5, 0.78)
    # Call-next fills: enough waiting guests that no caller finds a queue empty.
    call_next_rate_ceiling: float = 4000.0
    profile_seconds: int = 6
    # Also measure waitline's default pool (no WAITLINE_POOL_* set) at this many clients (0: do not).
    default_pool_concurrency: int = 32
    # Scenario 6: joins through waitline at HEAD and at this commit (main before the event log), in this
    # many alternating rounds at this many clients.
    baseline: str = "1333534"
    cost_rounds: int = 6
    cost_concurrency: int = 32


_QUICK_RUSH = RushConfig(
    seconds=4,
    restaurants=5,
    joins_per_second=15,
    call_interval=1.0,
    poll_interval=1.0,
    dashboard_interval=2.0,
    seat_delay=0.3,
    drain_seconds=8,
)
QUICK = Plan(
    restaurants=20,
    concurrencies=(4,),
    call_next_concurrencies=(4,),
    seconds=1,
    warmup_seconds=0,
    rush=_QUICK_RUSH,
    faults=replace(_QUICK_RUSH, seconds=9, drain_seconds=10),
    call_next_rate_ceiling=3000.0,
    profile_seconds=1,
    workers=1,
    default_pool_concurrency=4,
    cost_rounds=1,
    cost_concurrency=4,
)


class Progress:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:6.1f}s] {message}", flush=True)


@dataclass
class Context:
    plan: Plan
    pg: PostgresServer
    work: Path
    use_wrk: bool
    progress: Progress
    results: dict[str, Any]
    run_number: int = 0
    sqlite_template: Path | None = None

    def next_run(self) -> int:
        self.run_number += 1
        return self.run_number

    def probe(self, servers: Sequence[Server] = (), database: bool = True) -> CpuProbe:
        return CpuProbe(servers, self.pg.pid if database else None)


# --- histories and final states ---------------------------------------------------------------------------


def _restaurant_of_key(key: str) -> str | None:
    _, _, slug = key.rpartition("-r")
    return seed.restaurant_id(int(slug)) if slug.isdigit() else None


def join_ops(log: WrkLog) -> list[Op]:
    """wrk's response log as join attempts; an error it cannot tie to a request is an anonymous unknown."""
    ops = []
    for status, entry, token, key in log.lines:
        if status in (200, 201):
            ops.append(
                Op(
                    kind="join",
                    outcome="ok",
                    restaurant=_restaurant_of_key(key or ""),
                    key=key,
                    entry_id=entry,
                    token=token,
                    status=status,
                )
            )
        else:
            ops.append(Op(kind="join", outcome="unknown" if status >= 500 else "fail", status=status))
    return ops


def call_ops(log: WrkLog) -> list[Op]:
    ops = []
    for status, entry, token, _ in log.lines:
        outcome = "ok" if status in (200, 204) else "unknown" if status >= 500 else "fail"
        op = Op(kind="call_next", outcome=outcome, entry_id=entry, token=token, status=status)  # type: ignore[arg-type]
        ops.append(op)
    return ops


def socket_errors(measurement: Measurement, kind: str) -> list[Op]:
    """Timeouts and broken connections: requests whose outcome nobody knows."""
    count = sum(
        measurement.errors.get(name, 0)
        for name in ("read_errors", "write_errors", "timeouts", "in_flight_at_end")
    )
    return [Op(kind=kind, outcome="unknown") for _ in range(count)]  # type: ignore[arg-type]


def fill_ops(restaurants: int, per_restaurant: int) -> list[Op]:
    """The guests a call-next fill put in the queues, as acknowledged joins (see seed._FILL)."""
    return [
        Op(kind="join", outcome="ok", restaurant=seed.restaurant_id(r), key=f"fill-{r}-{n}", token=n)
        for r in range(1, restaurants + 1)
        for n in range(1, per_restaurant + 1)
    ]


def verdict(name: str, ops: list[Op], final: FinalState, ctx: Context) -> dict[str, Any]:
    checker.write_history(ctx.work / f"history-{name}.jsonl", ops)
    result = checker.check(ops, final).as_dict()
    state = "VALID" if result["valid"] else "INVALID"
    bad = {anomaly: count for anomaly, count in result["anomalies"].items() if count}
    ctx.progress(f"  checker {name}: {state} {bad or ''} {result['counts']}")
    return result


# --- scenario 1 and 2: joins ------------------------------------------------------------------------------


@contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


def point_line(m: Measurement) -> str:
    cpu = m.cpu.as_dict()
    return (
        f"{m.system:<16} c={m.concurrency:<3} {m.throughput:8.1f}/s  p50 {m.latency_ms['p50']:7.2f}  "
        f"p99 {m.latency_ms['p99']:7.2f}  max {m.latency_ms['max']:7.1f} ms  "
        f"cpu: loadgen {pct(cpu['loadgen_share'])} app {pct(cpu['app_share'])} "
        f"db {pct(cpu['database_share'])} "
        f"other {pct(cpu['other_share'])}  {m.statuses}"
    )


def closed_loop(
    ctx: Context,
    *,
    system: str,
    script: str,
    server: Server,
    probe: CpuProbe,
    concurrency: int,
    restaurants: int,
    label: str,
    first: int = 1,
    warmup: bool = True,
    seconds: int | None = None,
) -> tuple[Measurement, list[Op]]:
    """A warm-up (its answers are recorded, not its figures), then the measured run; every attempt as ops.
    Requests go to restaurants first .. first + restaurants - 1."""
    join = script == "join.lua"
    ops: list[Op] = []
    measurement: Measurement | None = None
    runs = [ctx.plan.warmup_seconds] if warmup else []
    for duration in [*runs, seconds or ctx.plan.seconds]:
        if duration <= 0:
            continue
        run = ctx.next_run()
        measurement, log = loadgen.run_wrk(
            system=system,
            script=script,
            server=server,
            probe=probe,
            concurrency=concurrency,
            seconds=duration,
            # The script's mobile numbers take the run number 0-49: no database sees two runs 50 apart.
            script_args=[str(restaurants), str(run % 50)],
            first=first,
            workdir=ctx.work,
            prefix=f"{system}-{label}-c{concurrency}-{run}",
            ok_statuses=(201,) if join else (200,),
            use_wrk=ctx.use_wrk,
        )
        ops += join_ops(log) if join else call_ops(log)
        ops += socket_errors(measurement, "join" if join else "call_next")
    assert measurement is not None
    return measurement, ops


def http_joins(
    ctx: Context, system: str, server: Server, probe: CpuProbe, shapes: Sequence[tuple[str, int]]
) -> tuple[dict[str, list[dict[str, Any]]], list[Op]]:
    """Closed-loop joins at every concurrency, for each shape (scenario, restaurants)."""
    plan = ctx.plan
    figures: dict[str, list[dict[str, Any]]] = {}
    ops: list[Op] = []
    for scenario, restaurants in shapes:
        figures[scenario] = []
        for index, concurrency in enumerate(plan.concurrencies):
            measurement, run_ops = closed_loop(
                ctx,
                system=system,
                script="join.lua",
                server=server,
                probe=probe,
                concurrency=concurrency,
                restaurants=restaurants,
                label=f"s{scenario}",
                first=hot_restaurant(index) if restaurants == 1 else 1,
            )
            ops += run_ops
            figures[scenario].append(measurement.as_dict())
            ctx.progress(f"  s{scenario} {point_line(measurement)}")
    return figures, ops


def hot_restaurant(index: int) -> int:
    """The restaurant of the index-th point of the hot-queue scenario: a fresh one for each concurrency,
    so that every point starts from a short queue (a join's answer counts the guests ahead of it)."""
    return 1 + index


def pgbench_points(
    ctx: Context,
    system: str,
    script: str,
    database: str,
    restaurants: int,
    concurrencies: Sequence[int],
    before: Callable[[], None] | None = None,
    hot: bool = False,
    claimed: Callable[[], int] | None = None,
) -> list[dict[str, Any]]:
    """pgbench at each concurrency. ``claimed``: how many entries the run called (a call-next that found
    its queue empty is still a transaction to pgbench; only the calls that claimed a party count)."""
    points = []
    for index, concurrency in enumerate(concurrencies):
        if before:
            before()
        first = hot_restaurant(index) if hot else 1
        measurement = loadgen.run_pgbench(
            system=system,
            script=script,
            database_url=ctx.pg.url(database),
            concurrency=concurrency,
            seconds=ctx.plan.seconds,
            variables={"restaurants": str(restaurants), "first": str(first)},
            workdir=ctx.work,
            probe=ctx.probe(),
        )
        if claimed is not None:
            called = claimed()
            measurement.statuses = {
                "claimed a party": called,
                "found the queue empty": measurement.ok - called,
            }
            measurement.ok = called
        points.append(measurement.as_dict())
        ctx.progress(f"  {point_line(measurement)}")
    return points


def scenario_joins(ctx: Context) -> None:
    plan = ctx.plan
    shapes = [("1", plan.restaurants), ("2", 1)]
    ctx.progress("scenario 1+2: joins (1,000 restaurants; one hot restaurant) — waitline on PostgreSQL")
    out: dict[str, dict[str, Any]] = {"1": {}, "2": {}}
    checks: dict[str, Any] = {}

    seed_clone(ctx, "joins_waitline")
    server = waitline_server(
        "waitline", ctx.pg.url("joins_waitline"), ctx.work / "waitline-joins.log", workers=plan.workers
    )
    with running(server):
        figures, ops = http_joins(ctx, "waitline", server, ctx.probe([server]), shapes)
        if plan.profile_seconds:
            ctx.results["profile"], profiled = profile_join(ctx, server)
            ops += profiled
    for scenario, points in figures.items():
        out[scenario]["waitline"] = points
    checks["joins on PostgreSQL (scenarios 1 and 2)"] = verdict(
        "joins-postgresql", ops, asyncio.run(postgres_final_state(ctx.pg.url("joins_waitline"))), ctx
    )

    if plan.default_pool_concurrency:
        checks["joins with the default pool (scenario 1)"] = default_poolpoint_line(ctx, out)

    ctx.progress("scenario 2: joins — waitline with WAITLINE_JOIN_COALESCING=on (a hot queue batched)")
    seed_clone(ctx, "joins_coalesced")
    coalesced = waitline_server(
        "waitline-coalesced",
        ctx.pg.url("joins_coalesced"),
        ctx.work / "waitline-coalesced.log",
        workers=plan.workers,
        WAITLINE_JOIN_COALESCING="on",
    )
    with running(coalesced):
        figures, ops = http_joins(ctx, "waitline-coalesced", coalesced, ctx.probe([coalesced]), [("2", 1)])
    out["2"]["waitline-coalesced"] = figures["2"]
    checks["joins with coalescing (scenario 2)"] = verdict(
        "joins-coalesced", ops, asyncio.run(postgres_final_state(ctx.pg.url("joins_coalesced"))), ctx
    )

    ctx.progress("scenario 1+2: joins — bare FastAPI + asyncpg reference (four round trips)")
    seed_clone(ctx, "joins_bare")
    bare = bare_server("bare", ctx.pg.url("joins_bare"), ctx.work / "bare-joins.log", workers=plan.workers)
    with running(bare):
        figures, _ = http_joins(ctx, "bare", bare, ctx.probe([bare]), shapes)
    for scenario, points in figures.items():
        out[scenario]["bare"] = points

    ctx.progress("scenario 1+2: joins — pgbench, the same waitline_join call (-M prepared)")
    seed_clone(ctx, "joins_pgbench")
    out["1"]["pgbench"] = pgbench_points(
        ctx, "pgbench", "join.sql", "joins_pgbench", plan.restaurants, plan.concurrencies
    )
    out["2"]["pgbench"] = pgbench_points(
        ctx, "pgbench", "join.sql", "joins_pgbench", 1, plan.concurrencies, hot=True
    )

    ctx.progress("scenario 1: joins — waitline on SQLite")
    assert ctx.sqlite_template is not None
    path = ctx.work / "joins.sqlite3"
    seed.clone_sqlite(ctx.sqlite_template, path)
    sqlite = waitline_server(
        "waitline-sqlite", f"sqlite:///{path}", ctx.work / "waitline-sqlite.log", workers=plan.workers
    )
    with running(sqlite):
        figures, ops = http_joins(
            ctx, "waitline-sqlite", sqlite, ctx.probe([sqlite], database=False), [("1", plan.restaurants)]
        )
    out["1"]["waitline-sqlite"] = figures["1"]
    checks["joins on SQLite (scenario 1)"] = verdict(
        "joins-sqlite", ops, asyncio.run(sqlite_final_state(path)), ctx
    )

    ctx.results["scenarios"]["1"] = out["1"]
    ctx.results["scenarios"]["2"] = out["2"]
    ctx.results["checker"].update(checks)


def default_poolpoint_line(ctx: Context, out: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Scenario 1 at one concurrency with waitline's default pool: no WAITLINE_POOL_* set (its share of 40
    connections per worker, at most 20, opened at start and kept; no overflow)."""
    concurrency = ctx.plan.default_pool_concurrency
    ctx.progress(
        f"scenario 1: joins — waitline with its default pool (no WAITLINE_POOL_*), {concurrency} clients"
    )
    seed_clone(ctx, "joins_default_pool")
    url = ctx.pg.url("joins_default_pool")
    server = waitline_server(
        "waitline-default-pool",
        url,
        ctx.work / "waitline-default-pool.log",
        workers=ctx.plan.workers,
        WAITLINE_POOL_SIZE="",
        WAITLINE_POOL_MAX_OVERFLOW="",
    )
    with running(server):
        measurement, ops = closed_loop(
            ctx,
            system="waitline-default-pool",
            script="join.lua",
            server=server,
            probe=ctx.probe([server]),
            concurrency=concurrency,
            restaurants=ctx.plan.restaurants,
            label="s1",
        )
    out["1"]["waitline-default-pool"] = [measurement.as_dict()]
    ctx.progress(f"  s1 {point_line(measurement)}")
    return verdict("joins-default-pool", ops, asyncio.run(postgres_final_state(url)), ctx)


def profile_join(
    ctx: Context, server: Server, system: str = "waitline", concurrency: int = 32
) -> tuple[dict[str, Any], list[Op]]:
    """py-spy on waitline's workers while wrk joins at 32 clients (not one of the measured runs); the joins
    it made go into the history like any others."""
    assert server.process is not None
    output = ctx.work / f"profile-join-{system}.txt"
    spy = profile.start(server.process.pid, output, seconds=ctx.plan.profile_seconds)
    measurement, ops = closed_loop(
        ctx,
        system=system,
        script="join.lua",
        server=server,
        probe=ctx.probe([server]),
        concurrency=concurrency,
        restaurants=ctx.plan.restaurants,
        label="profile",
        warmup=False,
        seconds=ctx.plan.profile_seconds,
    )
    summary = profile.finish(spy, output)
    summary["throughput_while_profiled"] = round(measurement.throughput, 1)
    cpu = measurement.cpu
    if cpu.app_seconds is not None and measurement.ok:
        summary["app_cpu_ms_per_join"] = round(cpu.app_seconds * 1000 / measurement.ok, 3)
    ctx.progress(
        f"  profiled {system} joins at c={concurrency} with py-spy: {summary.get('samples', 0)} samples"
    )
    return summary, ops


def seed_clone(ctx: Context, name: str) -> None:
    asyncio.run(seed.clone_postgres(ctx.pg.admin_url, name))


# --- scenario 3: call-next --------------------------------------------------------------------------------


# pgbench calls the next party several times faster than an HTTP app can.
PGBENCH_CALL_NEXT_FACTOR = 4


def _fill_size(plan: Plan, restaurants: int, *, pgbench: bool = False) -> int:
    """Enough waiting guests that no caller finds its queue empty before the run ends."""
    rate = plan.call_next_rate_ceiling * (PGBENCH_CALL_NEXT_FACTOR if pgbench else 1)
    calls = rate * (plan.seconds + plan.warmup_seconds)
    return max(20, math.ceil(calls / restaurants * (1.25 if restaurants == 1 else 2.5)))


def scenario_call_next(ctx: Context) -> None:
    plan = ctx.plan
    shapes = [("1 restaurant", 1), (f"{plan.restaurants} restaurants", plan.restaurants)]
    out: dict[str, dict[str, Any]] = {
        label: {
            "waiting_per_restaurant": _fill_size(plan, n),
            "waiting_per_restaurant_pgbench": _fill_size(plan, n, pgbench=True),
        }
        for label, n in shapes
    }
    verdicts: list[dict[str, Any]] = []
    for system in ("waitline", "bare"):
        ctx.progress(f"scenario 3: call-next, 1 and {plan.restaurants} restaurants — {system}")
        database = f"call_next_{system}"
        seed_clone(ctx, database)
        url = ctx.pg.url(database)
        make = waitline_server if system == "waitline" else bare_server
        server = make(system, url, ctx.work / f"{system}-call-next.log", workers=plan.workers)
        with running(server):
            for label, restaurants in shapes:
                points = out[label][system] = []
                for concurrency in plan.call_next_concurrencies:
                    fill = _fill_size(plan, restaurants)
                    since = asyncio.run(seed.fill_queues(url, restaurants=restaurants, per_restaurant=fill))
                    measurement, run_ops = closed_loop(
                        ctx,
                        system=system,
                        script="call_next.lua",
                        server=server,
                        probe=ctx.probe([server]),
                        concurrency=concurrency,
                        restaurants=restaurants,
                        label=f"call-next-{restaurants}",
                    )
                    ops = fill_ops(restaurants, fill) + run_ops
                    points.append(measurement.as_dict())
                    ctx.progress(f"  s3 {label}: {point_line(measurement)}")
                    if system == "waitline":
                        final = asyncio.run(postgres_final_state(url, since=since))
                        verdicts.append(verdict(f"call-next-{restaurants}-c{concurrency}", ops, final, ctx))

    ctx.progress("scenario 3: call-next — pgbench, the same statement (-M prepared)")
    seed_clone(ctx, "call_next_pgbench")
    for label, restaurants in shapes:

        def refill(restaurants: int = restaurants) -> None:
            asyncio.run(
                seed.fill_queues(
                    ctx.pg.url("call_next_pgbench"),
                    restaurants=restaurants,
                    per_restaurant=_fill_size(plan, restaurants, pgbench=True),
                )
            )

        def count_called() -> int:
            return asyncio.run(seed.count_called(ctx.pg.url("call_next_pgbench")))

        out[label]["pgbench"] = pgbench_points(
            ctx,
            "pgbench",
            "call_next.sql",
            "call_next_pgbench",
            restaurants,
            plan.call_next_concurrencies,
            before=refill,
            claimed=count_called,
        )
    ctx.results["scenarios"]["3"] = out
    ctx.results["checker"]["call-next on PostgreSQL (scenario 3)"] = _merge_verdicts(verdicts)


def _merge_verdicts(verdicts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {
        "valid": all(v["valid"] for v in verdicts),
        "counts": {},
        "anomalies": {},
        "examples": {},
        "runs": len(verdicts),
    }
    for v in verdicts:
        for section in ("counts", "anomalies"):
            for name, value in v[section].items():
                merged[section][name] = merged[section].get(name, 0) + value
        for name, examples in v["examples"].items():
            merged["examples"].setdefault(name, []).extend(examples)
    return merged


# --- scenarios 4 and 5: the Friday rush, then faults during it --------------------------------------------


# What scenario 5 does to the servers while the rush runs; returns the events, timed from the rush's start.
Faults = Callable[[Rush, list[Server]], Awaitable[list[FaultEvent]]]


def rush_servers(ctx: Context, database: str, label: str) -> list[Server]:
    """Two app instances of one worker each on the same database, started side by side."""
    url = ctx.pg.url(database)
    servers = [
        waitline_server(f"instance-{name}", url, ctx.work / f"{label}-instance-{name}.log", workers=1)
        for name in ("a", "b")
    ]
    for server in servers:
        server.start(wait=False)
    for server in servers:
        server.wait_ready()
    return servers


def run_rush(
    ctx: Context, config: RushConfig, servers: list[Server], faults: Faults | None
) -> tuple[RushResult, dict[str, Any]]:
    probe = ctx.probe(servers)
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    started = probe.start()

    async def main() -> RushResult:
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        rush = Rush(config, Instances([server.base_url for server in servers]), run=ctx.next_run())
        return await rush.run((lambda rush: faults(rush, servers)) if faults else None)

    result = asyncio.run(main())
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    client_seconds = (usage_after.ru_utime - usage_before.ru_utime) + (
        usage_after.ru_stime - usage_before.ru_stime
    )
    cpu = probe.stop(started, client_seconds).as_dict()
    return result, cpu


def rush_scenario(
    ctx: Context, number: str, database: str, config: RushConfig, faults: Faults | None
) -> tuple[dict[str, Any], RushResult]:
    """The rush against two fresh instances on a fresh database; its summary, and its verdict recorded."""
    seed_clone(ctx, database)
    servers = rush_servers(ctx, database, database)
    try:
        result, cpu = run_rush(ctx, config, servers, faults)
    finally:
        for server in servers:
            server.stop()
    final = asyncio.run(postgres_final_state(ctx.pg.url(database)))
    summary = report.summarise_rush(result, cpu, config)
    ctx.results["scenarios"][number] = summary
    ctx.progress(f"  s{number} {report.rush_line(summary)}")
    title = "Friday rush (scenario 4)" if faults is None else "faults during the rush (scenario 5)"
    ctx.results["checker"][title] = verdict(database, result.ops, final, ctx)
    return summary, result


def scenario_rush(ctx: Context) -> None:
    config = ctx.plan.rush
    ctx.progress(
        f"scenario 4: Friday rush, {config.seconds:.0f} s, 2 instances, {config.restaurants} restaurants, "
        f"~{config.joins_per_second:.0f} guests/s, {config.staff_per_restaurant} staff each"
    )
    rush_scenario(ctx, "4", "rush", config, None)


def scenario_faults(ctx: Context) -> None:
    config = ctx.plan.faults
    ctx.progress(
        f"scenario 5: faults during the rush, {config.seconds:.0f} s: PostgreSQL restarted (fast), "
        "instance a SIGKILLed and started again, instance b SIGTERMed and started again"
    )
    at = [config.seconds * point for point in ctx.plan.fault_points]

    async def faults(rush: Rush, servers: list[Server]) -> list[FaultEvent]:
        events: list[FaultEvent] = []

        def mark(label: str) -> None:
            events.append(FaultEvent(round(rush.now(), 3), label))
            ctx.progress(f"  fault t={rush.now():.2f}s: {label}")

        async def until(moment: float) -> None:
            await asyncio.sleep(max(moment - rush.now(), 0))

        await until(at[0])
        mark("postgresql: restart -m fast asked")
        await asyncio.to_thread(ctx.pg.restart)
        mark("postgresql: accepting connections again")

        await until(at[1])
        mark("instance-a: SIGKILL")
        servers[0].signal(signal.SIGKILL)
        await asyncio.to_thread(servers[0].wait)
        await asyncio.to_thread(servers[0].start)
        mark("instance-a: started again, healthy")

        await until(at[2])
        mark("instance-b: SIGTERM")
        servers[1].signal(signal.SIGTERM)
        code = await asyncio.to_thread(servers[1].wait)
        mark(f"instance-b: exited with {code}")
        await asyncio.to_thread(servers[1].start)
        mark("instance-b: started again, healthy")
        return events

    summary, result = rush_scenario(ctx, "5", "faults", config, faults)
    summary["faults"] = [asdict(event) for event in result.faults]
    summary["recovery"] = report.recovery(result)
    ctx.progress(f"  s5 recovery: {summary['recovery']}")
