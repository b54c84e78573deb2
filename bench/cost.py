"""What the event log costs, measured as ratios within one run (issue 8's targets).

6. ``baseline``: joins at 32 clients to 1,000 restaurants, scenario 1's setup (workers, pool, limits, logs),
   through waitline at HEAD and through waitline at the baseline commit (main before the log), both serving
   at once from the same .venv on the same PostgreSQL, in alternating rounds (ABBA) so that whatever else
   the machine does hits both alike. The baseline runs from its own source (``git archive`` of its src/,
   first on PYTHONPATH) on a database its own code migrated.
7. ``triggers``: pgbench on 1,000 restaurants, the same ``waitline_join`` call, at scenario 1's
   concurrencies: schema 0004 (round one: NOTIFY triggers fire at every join's commit) against HEAD's schema
   (the event appended inside ``waitline_join``, no trigger), and HEAD's again with the NOTIFY the app sends
   after commit, as one more transaction after each join: the most the app can send (it coalesces them,
   one at a time per process). Nobody LISTENs in either (PostgreSQL queues notifications all the same).
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Connection

from bench import loadgen, seed
from bench.final_state import postgres_final_state
from bench.loadgen import PGBENCH_SCRIPTS, Measurement
from bench.processes import ROOT, Server, waitline_server
from bench.report_cost import BASELINE, HEAD, LOG, LOG_NOTIFY, TRIGGERS
from bench.runner import Context, closed_loop, point_line, profile_join, seed_clone, verdict
from waitline.config import Settings
from waitline.store import migrations
from waitline.store.engine import make_engine

# --- 6: waitline at HEAD against waitline before the event log ---------------------------------------------


def baseline_source(commit: str, work: Path) -> Path:
    """The baseline's src/, unpacked from git (no worktree is registered), for PYTHONPATH."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "src"], capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise RuntimeError(f"git archive {commit} failed: {archive.stderr.decode(errors='replace')}")
    where = work / f"baseline-{commit}"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(where, filter="data")
    return where / "src"


def _python_path(src: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join([str(src), *filter(None, [os.environ.get("PYTHONPATH")])])}


def _waitline(arguments: list[str], env: dict[str, str]) -> str:
    """Run ``python -m waitline ...`` (or ``-c``) as the bench's servers run; its output."""
    done = subprocess.run(
        [sys.executable, *arguments], env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout.strip()


def imported_from(env: dict[str, str]) -> str:
    return _waitline(["-c", "import waitline; print(waitline.__file__)"], env)


def scenario_baseline(ctx: Context) -> None:
    plan = ctx.plan
    concurrency = plan.cost_concurrency
    ctx.progress(
        f"scenario 6: the event log's cost — joins at {concurrency} clients, {plan.restaurants} restaurants, "
        f"waitline at HEAD against {plan.baseline}, {plan.cost_rounds} alternating rounds"
    )
    src = baseline_source(plan.baseline, ctx.work)
    env = _python_path(src)
    where = {HEAD: imported_from({}), BASELINE: imported_from(env)}
    if not Path(where[BASELINE]).is_relative_to(src):
        raise RuntimeError(f"the baseline imports waitline from {where[BASELINE]}, not from {src}")
    ctx.progress(f"  waitline imported from: HEAD {where[HEAD]}; baseline {where[BASELINE]}")

    seed_clone(ctx, "cost_head")
    baseline_url = ctx.pg.url("cost_baseline")

    async def migrate_as_baseline(url: str) -> None:
        await asyncio.to_thread(
            _waitline, ["-m", "waitline", "migrate"], {**env, "WAITLINE_DATABASE_URL": url}
        )

    asyncio.run(
        seed.make_database(
            ctx.pg.admin_url, "cost_baseline", baseline_url, plan.restaurants, migrate=migrate_as_baseline
        )
    )
    servers = {
        HEAD: waitline_server(HEAD, ctx.pg.url("cost_head"), ctx.work / f"{HEAD}.log", workers=plan.workers),
        BASELINE: waitline_server(
            BASELINE,
            baseline_url,
            ctx.work / f"{BASELINE}.log",
            workers=plan.workers,
            PYTHONPATH=env["PYTHONPATH"],
        ),
    }
    rounds: list[dict[str, Any]] = []
    ops: dict[str, list[Any]] = {HEAD: [], BASELINE: []}
    profiles: dict[str, Any] = {}
    for server in servers.values():
        server.start()
    try:
        for number in range(plan.cost_rounds):
            order = [HEAD, BASELINE] if number % 2 == 0 else [BASELINE, HEAD]
            measured: dict[str, Any] = {"round": number + 1, "order": order}
            for system in order:
                measurement, run_ops = _joins(ctx, system, servers[system], warmup=number == 0)
                measured[system] = measurement.as_dict()
                ops[system] += run_ops
                ctx.progress(f"  s6 round {number + 1}: {point_line(measurement)}")
            rounds.append(measured)
        if plan.profile_seconds:
            for system, server in servers.items():
                profiles[system], profiled = profile_join(ctx, server, system, concurrency)
                ops[system] += profiled
    finally:
        for server in servers.values():
            server.stop()

    ctx.results["scenarios"]["6"] = {
        "baseline": plan.baseline,
        "imported_from": where,
        "concurrency": concurrency,
        "restaurants": plan.restaurants,
        "rounds": rounds,
        "profiles": profiles,
        **summarise_rounds(rounds),
    }
    ctx.progress(f"  s6 HEAD / baseline: {ctx.results['scenarios']['6']['ratio']}x")
    checks = ctx.results["checker"]
    head_final = asyncio.run(postgres_final_state(ctx.pg.url("cost_head")))
    checks["joins at HEAD (scenario 6)"] = verdict("cost-head", ops[HEAD], head_final, ctx)
    baseline_final = asyncio.run(postgres_final_state(baseline_url, event_log=False))
    checks[f"joins at {plan.baseline} (scenario 6)"] = verdict(
        "cost-baseline", ops[BASELINE], baseline_final, ctx
    )


def _joins(ctx: Context, system: str, server: Server, *, warmup: bool) -> tuple[Measurement, list[Any]]:
    return closed_loop(
        ctx,
        system=system,
        script="join.lua",
        server=server,
        probe=ctx.probe([server]),
        concurrency=ctx.plan.cost_concurrency,
        restaurants=ctx.plan.restaurants,
        label="cost",
        warmup=warmup,
    )


def summarise_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each system over all its rounds (joins answered / seconds measured), and HEAD / baseline."""
    totals: dict[str, Any] = {}
    for system in (HEAD, BASELINE):
        points = [measured[system] for measured in rounds]
        ok = sum(point["ok"] for point in points)
        cpu = {
            group: _cpu_seconds(points, group) * 1000 / ok if ok else None for group in ("app", "database")
        }
        totals[system] = {
            "throughput": round(ok / sum(point["seconds"] for point in points), 1),
            "p99_ms_median": _median([point["latency_ms"]["p99"] for point in points]),
            "app_cpu_ms_per_join": _round(cpu["app"]),
            "database_cpu_ms_per_join": _round(cpu["database"]),
        }
    pairs = [round(measured[HEAD]["throughput"] / measured[BASELINE]["throughput"], 3) for measured in rounds]
    return {
        "totals": totals,
        "ratio": round(totals[HEAD]["throughput"] / totals[BASELINE]["throughput"], 3),
        "round_ratios": pairs,
    }


def _cpu_seconds(points: list[dict[str, Any]], group: str) -> float:
    """CPU seconds the group (app, database) spent over the points, from its shares of the box."""
    seconds = 0.0
    for point in points:
        cpu = point["cpu"]
        seconds += (cpu[f"{group}_share"] or 0) * cpu["wall_seconds"] * cpu["cores"]
    return seconds


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return round((ordered[middle - 1] + ordered[middle]) / 2, 2)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# --- 7: pgbench, round one's NOTIFY triggers against the event log -----------------------------------------

# What the app sends after each batch of commits (store/signals.py), here after every join.
_NOTIFY_AFTER_COMMIT = """
-- Then, in a transaction of its own after the join's commit, the NOTIFY the app sends (store/signals.py).
SELECT pg_notify('waitline_queue', '00000000-0000-4000-8000-' || lpad(CAST(:r AS text), 12, '0'));
"""


async def _upgrade_to_0004(url: str) -> None:
    """Round one's schema, by waitline's own migrations stopped at revision 0004."""

    def upgrade(connection: Connection) -> None:
        command.upgrade(migrations.alembic_config(connection), "0004")

    engine = make_engine(Settings(database_url=url))
    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade)
    finally:
        await engine.dispose()


def scenario_triggers(ctx: Context) -> None:
    plan = ctx.plan
    ctx.progress(
        f"scenario 7: pgbench joins to {plan.restaurants} restaurants — schema 0004 (NOTIFY triggers) "
        "against the event log, and the event log with a NOTIFY after each join"
    )
    asyncio.run(
        seed.make_database(
            ctx.pg.admin_url, "log_0004", ctx.pg.url("log_0004"), plan.restaurants, migrate=_upgrade_to_0004
        )
    )
    seed_clone(ctx, "log_head")
    seed_clone(ctx, "log_head_notify")
    join_then_notify = ctx.work / "join_then_notify.sql"
    join_then_notify.write_text((PGBENCH_SCRIPTS / "join.sql").read_text() + _NOTIFY_AFTER_COMMIT)
    systems: list[tuple[str, str | Path, str]] = [
        (TRIGGERS, "join.sql", "log_0004"),
        (LOG, "join.sql", "log_head"),
        (LOG_NOTIFY, join_then_notify, "log_head_notify"),
    ]
    out: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in systems}
    for index, concurrency in enumerate(plan.concurrencies):
        for name, script, database in systems if index % 2 == 0 else systems[::-1]:
            measurement = loadgen.run_pgbench(
                system=f"pgbench-{name}",
                script=script,
                database_url=ctx.pg.url(database),
                concurrency=concurrency,
                seconds=plan.seconds,
                variables={"restaurants": str(plan.restaurants), "first": "1"},
                workdir=ctx.work,
                probe=ctx.probe(),
            )
            out[name].append(measurement.as_dict())
            ctx.progress(f"  s7 {name:<24} {point_line(measurement)}")
    ctx.results["scenarios"]["7"] = out
