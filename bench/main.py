"""``bench/run``: every scenario of the bench against real ``waitline serve`` processes on a private
PostgreSQL (and the join scenario on SQLite), with pgbench and the bare app beside it, the checker over
every history, and the report. ``python -m bench --help`` for the options."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.postgres import PostgresServer, execute, throwaway_server

from bench import cost, loadgen, profile, report, seed, summary
from bench.pgsettings import SETTINGS
from bench.processes import ROOT
from bench.runner import (
    QUICK,
    Context,
    Plan,
    Progress,
    scenario_call_next,
    scenario_faults,
    scenario_joins,
    scenario_rush,
)

# In the order they run.
SCENARIOS: dict[str, Callable[[Context], None]] = {
    "joins": scenario_joins,
    "baseline": cost.scenario_baseline,
    "triggers": cost.scenario_triggers,
    "call-next": scenario_call_next,
    "rush": scenario_rush,
    "faults": scenario_faults,
}


def environment(pg: PostgresServer, plan: Plan, use_wrk: bool) -> dict[str, Any]:
    def version(command: list[str]) -> str:
        try:
            return (
                subprocess.run(command, capture_output=True, text=True, check=False)
                .stdout.strip()
                .splitlines()[0]
            )
        except (OSError, IndexError):
            return "?"

    cpu_model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores ({cpu_model}), "
        f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": version([str(pg.bindir / "postgres"), "--version"]),
        "pgbench": version(["pgbench", "--version"]),
        "load_generator": version(["wrk", "--version"]).split(" [")[0]
        if use_wrk
        else "bench.pyload (Python; wrk not installed)",
        "load_average_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "postgresql_settings": ", ".join(f"{name}={value}" for name, value in pg.settings.items()),
        "waitline_workers": plan.workers,
        "git_commit": version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="a tiny setting (the smoke test's): seconds, not minutes"
    )
    parser.add_argument("--out", type=Path, help="where the report goes (default: bench/results/<date>)")
    parser.add_argument("--work", type=Path, help="where logs and histories go (default: var/bench/<time>)")
    parser.add_argument("--workers", type=int, help="uvicorn workers per app process in scenarios 1-3")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), help="run only these scenarios")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile of the joins")
    parser.add_argument(
        "--baseline", help=f"the commit scenario 6 compares HEAD with (default {Plan().baseline})"
    )
    args = parser.parse_args(argv)

    plan = QUICK if args.quick else Plan()
    if args.workers:
        plan = replace(plan, workers=args.workers)
    if args.no_profile:
        plan = replace(plan, profile_seconds=0)
    if args.baseline:
        plan = replace(plan, baseline=args.baseline)
    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and loadgen.wrk_available())
    if args.loadgen == "wrk" and not loadgen.wrk_available():
        parser.error("wrk is not installed (apt-get install wrk)")
    if plan.profile_seconds and not profile.available():
        plan = replace(plan, profile_seconds=0)
    stamp = datetime.now(UTC)
    out = args.out or ROOT / "bench" / "results" / stamp.strftime("%Y-%m-%d")
    work = args.work or ROOT / "var" / "bench" / stamp.strftime("%Y%m%dT%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    progress = Progress()
    progress(
        f"waitline bench{' (quick)' if args.quick else ''}: report -> {out}, logs and histories -> {work}"
    )

    with throwaway_server(SETTINGS) as pg:
        results: dict[str, Any] = {
            "environment": environment(pg, plan, use_wrk),
            "plan": _plan_dict(plan),
            "scenarios": {},
            "checker": {},
        }
        ctx = Context(plan=plan, pg=pg, work=work, use_wrk=use_wrk, progress=progress, results=results)
        progress(f"private PostgreSQL on port {pg.port}; seeding {plan.restaurants} restaurants")
        asyncio.run(
            seed.make_postgres_template(
                pg.admin_url, {seed.TEMPLATE: pg.url(seed.TEMPLATE)}, plan.restaurants
            )
        )
        ctx.sqlite_template = work / "template.sqlite3"
        seed.make_sqlite_template(ctx.sqlite_template, plan.restaurants)
        for name, scenario in SCENARIOS.items():
            if args.only and name not in args.only:
                continue
            # What earlier scenarios wrote goes to disk now, not in this one's measurements, nor in the
            # shutdown checkpoint of the fault scenario's restart (which it would stretch to many seconds).
            asyncio.run(execute(pg.admin_url, "CHECKPOINT"))
            scenario(ctx)
    results["elapsed_seconds"] = round(time.monotonic() - progress.started, 1)
    report.write(results, out, summary.markdown(results))
    print("\n".join(summary.lines(results)), flush=True)
    progress(f"report: {out / 'report.md'}")
    valid = all(v["valid"] for v in results["checker"].values())
    progress("checker: every history VALID" if valid else "checker: ANOMALIES FOUND (see the report)")
    return 0 if valid else 1


def _plan_dict(plan: Plan) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(json.dumps(asdict(plan)))
    return value


if __name__ == "__main__":
    sys.exit(main())
