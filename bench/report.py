"""The bench's outputs: ``results.json`` (every figure), ``report.md`` (tables, ratios, targets, checker
verdicts, where the time goes) and PNG plots (latency percentiles against concurrency; throughput over time
with the faults marked)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import report_cost
from bench.checker import Op
from bench.loadgen import percentile
from bench.markdown import pct, table
from bench.rush import RushConfig, RushResult

# Operations that reach the database (a recovery is seen on these).
_DATABASE_KINDS = {"join", "call_next", "poll", "dashboard", "seat", "no_show", "leave"}
_TIMEOUT_LIMIT_SECONDS = 6.0
_BACK_WITHIN_SECONDS = 5.0


# --- the rush ---------------------------------------------------------------------------------------------


def _latencies(ops: Sequence[Op]) -> dict[str, float]:
    values = sorted(((op.completed or 0) - (op.invoked or 0)) * 1000 for op in ops)
    return {
        "p50": round(percentile(values, 0.50), 2),
        "p95": round(percentile(values, 0.95), 2),
        "p99": round(percentile(values, 0.99), 2),
        "max": round(values[-1], 2) if values else 0.0,
    }


def summarise_rush(result: RushResult, cpu: dict[str, Any], config: RushConfig) -> dict[str, Any]:
    ops = result.ops
    kinds: dict[str, Any] = {}
    by_kind: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        by_kind[op.kind].append(op)
    for kind, attempts in sorted(by_kind.items()):
        outcomes = Counter(op.outcome for op in attempts)
        kinds[kind] = {
            "attempts": len(attempts),
            "ok": outcomes["ok"],
            "fail": outcomes["fail"],
            "unknown": outcomes["unknown"],
            "statuses": dict(sorted(Counter(str(op.status) for op in attempts).items())),
            "latency_ms_ok": _latencies([op for op in attempts if op.outcome == "ok"]),
        }
    longest = max(ops, key=lambda op: (op.completed or 0) - (op.invoked or 0), default=None)
    buckets: dict[int, Counter[str]] = defaultdict(Counter)
    for op in ops:
        second = int(op.completed or 0)
        buckets[second][op.outcome] += 1
        if op.outcome == "ok" and op.kind in ("join", "call_next"):
            buckets[second][op.kind] += 1
    end = max(buckets, default=0)
    timeline = [
        {
            "second": second,
            **{name: buckets[second][name] for name in ("ok", "fail", "unknown", "join", "call_next")},
        }
        for second in range(end + 1)
    ]
    guests = {op.key for op in ops if op.kind == "join"}
    joined = {op.key for op in ops if op.kind == "join" and op.outcome == "ok"}
    in_run = [op for op in ops if (op.invoked or 0) <= result.seconds]
    return {
        "config": {
            "seconds": config.seconds,
            "restaurants": config.restaurants,
            "guests_per_second": config.joins_per_second,
            "staff_per_restaurant": config.staff_per_restaurant,
            "seconds_between_presses": config.call_interval,
            "seconds_between_polls": config.poll_interval,
        },
        "requests": len(ops),
        "requests_per_second": round(len(in_run) / result.seconds, 1) if result.seconds else 0.0,
        "guests": len(guests),
        "guests_joined": len(joined),
        "guests_never_joined": len(guests - joined),
        "kinds": kinds,
        "failed_requests": sum(1 for op in ops if op.outcome != "ok"),
        "longest_request": {
            "seconds": round((longest.completed or 0) - (longest.invoked or 0), 3) if longest else 0.0,
            "kind": longest.kind if longest else None,
            "outcome": longest.outcome if longest else None,
            "invoked_at": longest.invoked if longest else None,
        },
        "timeline": timeline,
        "cpu": cpu,
    }


def recovery(result: RushResult) -> dict[str, Any]:
    """How long after PostgreSQL came back each instance answered a database request again."""
    back = next((event.at for event in result.faults if "accepting connections" in event.label), None)
    asked = next((event.at for event in result.faults if "restart -m fast asked" in event.label), None)
    if back is None:
        return {}
    per_instance: dict[str, float | None] = {}
    for instance in sorted({op.instance for op in result.ops if op.instance}):
        firsts = [
            (op.completed or 0) - back
            for op in result.ops
            if op.instance == instance
            and op.outcome == "ok"
            and op.kind in _DATABASE_KINDS
            and (op.invoked or 0) >= back
        ]
        per_instance[instance] = round(min(firsts), 3) if firsts else None
    failures = [
        op for op in result.ops if op.outcome != "ok" and asked is not None and (op.invoked or 0) >= asked
    ]
    failures_during = [op for op in failures if (op.invoked or 0) <= back + _BACK_WITHIN_SECONDS]
    known = [value for value in per_instance.values() if value is not None]
    return {
        "postgresql_down_seconds": round(back - asked, 3) if asked is not None else None,
        "seconds_to_first_success_after_return": per_instance,
        "service_back_after_seconds": max(known) if known and len(known) == len(per_instance) else None,
        "failed_requests_while_postgresql_restarted": len(failures_during),
    }


def rush_line(summary: dict[str, Any]) -> str:
    kinds = summary["kinds"]
    parts = [f"{summary['requests_per_second']}/s, {summary['failed_requests']} not ok"]
    for kind in ("join", "call_next"):
        if kind in kinds:
            latency = kinds[kind]["latency_ms_ok"]
            parts.append(f"{kind} p95 {latency['p95']} ms p99 {latency['p99']} ms")
    parts.append(f"longest {summary['longest_request']['seconds']} s")
    cpu = summary["cpu"]
    parts.append(f"client cpu {pct(cpu['loadgen_share'])} of the box")
    return ", ".join(parts)


# --- figures ----------------------------------------------------------------------------------------------


def _at(points: Sequence[dict[str, Any]], concurrency: int) -> dict[str, Any] | None:
    return next((point for point in points if point["concurrency"] == concurrency), None)


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or not b:
        return None
    return round(a / b, 2)


def ratio_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """waitline against the bare app and pgbench, for every scenario and concurrency measured."""
    scenarios = results["scenarios"]
    groups = [
        (f"{number}: {title}", scenarios.get(number, {}))
        for number, title in (("1", "joins, 1,000 restaurants"), ("2", "joins, one hot restaurant"))
    ]
    groups += [(f"3: call-next, {shape}", systems) for shape, systems in scenarios.get("3", {}).items()]
    rows = []
    for label, systems in groups:
        for point in systems.get("waitline", []):
            c = point["concurrency"]
            bare, pgbench = _at(systems.get("bare", []), c), _at(systems.get("pgbench", []), c)
            rows.append(_row(label, c, point, bare, pgbench))
    return rows


def _row(
    scenario: str,
    concurrency: int,
    waitline: dict[str, Any],
    bare: dict[str, Any] | None,
    pgbench: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "concurrency": concurrency,
        "waitline": waitline["throughput"],
        "bare": bare["throughput"] if bare else None,
        "pgbench": pgbench["throughput"] if pgbench else None,
        "waitline_vs_bare": _ratio(waitline["throughput"], bare["throughput"] if bare else None),
        "waitline_vs_pgbench": _ratio(waitline["throughput"], pgbench["throughput"] if pgbench else None),
        "p99_waitline": waitline["latency_ms"]["p99"],
        "p99_bare": bare["latency_ms"]["p99"] if bare else None,
        "p99_pgbench": pgbench["latency_ms"]["p99"] if pgbench else None,
    }


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    scenarios = results["scenarios"]
    out: list[dict[str, Any]] = []

    def add(name: str, met: bool | None, figure: str) -> None:
        out.append({"target": name, "met": met, "figure": figure})

    one = scenarios.get("1", {})
    w, b, p = (_at(one.get(system, []), 32) for system in ("waitline", "bare", "pgbench"))
    if w:
        vs_bare = _ratio(w["throughput"], b["throughput"] if b else None)
        vs_pg = _ratio(w["throughput"], p["throughput"] if p else None)
        add(
            "scenario 1, 32 clients: waitline ≥ 1.0× the bare endpoint",
            vs_bare is not None and vs_bare >= 1.0,
            f"{w['throughput']} vs {b and b['throughput']} req/s = {vs_bare}×",
        )
        add(
            "scenario 1, 32 clients: waitline ≥ 0.35× pgbench",
            vs_pg is not None and vs_pg >= 0.35,
            f"{w['throughput']} req/s vs {p and p['throughput']} TPS = {vs_pg}×",
        )
        add(
            "scenario 1, 32 clients: p99 ≤ 50 ms",
            w["latency_ms"]["p99"] <= 50,
            f"p99 {w['latency_ms']['p99']} ms",
        )
    ratios = [row for row in ratio_rows(results) if row["scenario"].startswith("3:")]
    if ratios:
        worst = min(ratios, key=lambda row: row["waitline_vs_bare"] or 0)
        figures = "; ".join(
            f"{row['scenario'][3:]} c={row['concurrency']}: {row['waitline_vs_bare']}×" for row in ratios
        )
        add(
            "scenario 3: call-next ≥ 1.0× a bare endpoint of the same statement",
            all((row["waitline_vs_bare"] or 0) >= 1.0 for row in ratios),
            f"{figures} (worst {worst['waitline_vs_bare']}×)",
        )
    rush = scenarios.get("4")
    if rush:
        join, call = rush["kinds"].get("join"), rush["kinds"].get("call_next")
        if join:
            add(
                "scenario 4 load: join p95 ≤ 20 ms",
                join["latency_ms_ok"]["p95"] <= 20,
                f"p95 {join['latency_ms_ok']['p95']} ms at {rush['requests_per_second']} req/s",
            )
        if call:
            add(
                "scenario 4 load: call-next p95 ≤ 10 ms",
                call["latency_ms_ok"]["p95"] <= 10,
                f"p95 {call['latency_ms_ok']['p95']} ms",
            )
    two = scenarios.get("2", {})
    w, p = _at(two.get("waitline", []), 64), _at(two.get("pgbench", []), 64)
    if w and p:
        add(
            "scenario 2, one hot queue, 64 clients: ≥ 1,000 joins/s, p99 ≤ 100 ms, above pgbench's hot row",
            w["throughput"] >= max(1000, p["throughput"]) and w["latency_ms"]["p99"] <= 100,
            f"{w['throughput']} req/s p99 {w['latency_ms']['p99']} ms vs pgbench {p['throughput']} TPS "
            f"p99 {p['latency_ms']['p99']} ms = {_ratio(w['throughput'], p['throughput'])}×",
        )
    faults = scenarios.get("5")
    if faults:
        verdict = results["checker"].get("faults during the rush (scenario 5)", {})
        anomalies = sum(verdict.get("anomalies", {}).values())
        add("scenario 5: zero anomalies", verdict.get("valid", False), f"{anomalies} anomalies")
        longest = faults["longest_request"]["seconds"]
        add(
            "scenario 5: no request longer than 6 s",
            longest <= _TIMEOUT_LIMIT_SECONDS,
            f"longest {longest} s ({faults['longest_request']['kind']}, "
            f"{faults['longest_request']['outcome']})",
        )
        back = faults.get("recovery", {}).get("service_back_after_seconds")
        add(
            "scenario 5: service back within 5 s of PostgreSQL's return",
            back is not None and back <= _BACK_WITHIN_SECONDS,
            f"{back} s",
        )
    return out + report_cost.targets(results)


# --- plots ------------------------------------------------------------------------------------------------

_COLOURS = {
    "waitline": "tab:blue",
    "bare": "tab:orange",
    "pgbench": "tab:green",
    "waitline-sqlite": "tab:purple",
    "waitline-default-pool": "tab:gray",
    "waitline-coalesced": "tab:cyan",
}


def _pyplot() -> Any:
    """matplotlib's pyplot, drawing to files only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _present(results: dict[str, Any], titles: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(number, title) for number, title in titles if number in results["scenarios"]]


_PERCENTILE_STYLES = (("p50", ":"), ("p95", "--"), ("p99", "-"))


def plot_latency(results: dict[str, Any], path: Path) -> None:
    plt = _pyplot()

    scenarios = _present(results, (("1", "joins, 1,000 restaurants"), ("2", "joins, one hot restaurant")))
    if not scenarios:
        return
    figure, axes = plt.subplots(len(scenarios), 2, figsize=(12, 4.2 * len(scenarios)), squeeze=False)
    for row, (number, title) in enumerate(scenarios):
        throughput_axis, latency_axis = axes[row]
        for system, points in results["scenarios"][number].items():
            xs = [point["concurrency"] for point in points]
            colour = _COLOURS.get(system)
            throughput_axis.plot(
                xs, [point["throughput"] for point in points], marker="o", label=system, color=colour
            )
            for name, style in _PERCENTILE_STYLES:
                latency_axis.plot(
                    xs,
                    [point["latency_ms"][name] for point in points],
                    linestyle=style,
                    marker="o" if name == "p99" else ".",
                    color=colour,
                    label=system if name == "p99" else None,
                )
        throughput_axis.set(
            title=f"scenario {number}: {title} — throughput",
            xlabel="concurrent clients",
            ylabel="requests (transactions) per second",
            xscale="log",
        )
        latency_axis.set(
            title=f"scenario {number}: latency percentiles",
            xlabel="concurrent clients",
            ylabel="ms (log)",
            xscale="log",
            yscale="log",
        )
        for axis in (throughput_axis, latency_axis):
            axis.set_xticks(
                [point["concurrency"] for point in next(iter(results["scenarios"][number].values()))]
            )
            axis.get_xaxis().set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
            axis.grid(True, alpha=0.3)
        throughput_axis.legend(fontsize=8)
        latency_axis.legend(fontsize=8, title="p99 solid, p95 dashed, p50 dotted", title_fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_call_next(results: dict[str, Any], path: Path) -> None:
    plt = _pyplot()

    shapes = results["scenarios"].get("3")
    if not shapes:
        return
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    labels: list[str] = []
    for index, system in enumerate(("waitline", "bare", "pgbench")):
        throughput, p99 = [], []
        labels = []
        for shape, systems in shapes.items():
            for point in systems.get(system, []):
                labels.append(f"{shape}\nc={point['concurrency']}")
                throughput.append(point["throughput"])
                p99.append(point["latency_ms"]["p99"])
        positions = [i + (index - 1) * 0.27 for i in range(len(throughput))]
        axes[0].bar(positions, throughput, width=0.27, label=system, color=_COLOURS[system])
        axes[1].bar(positions, p99, width=0.27, label=system, color=_COLOURS[system])
    for axis, title, unit in ((axes[0], "throughput", "calls per second"), (axes[1], "p99 latency", "ms")):
        axis.set_xticks(range(len(labels)), labels, fontsize=8)
        axis.set(title=f"scenario 3: call-next — {title}", ylabel=unit)
        axis.grid(True, axis="y", alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_rush(results: dict[str, Any], path: Path) -> None:
    plt = _pyplot()

    runs = _present(results, (("4", "Friday rush"), ("5", "faults during the rush")))
    if not runs:
        return
    figure, axes = plt.subplots(len(runs), 1, figsize=(12, 3.8 * len(runs)), squeeze=False)
    for axis, (number, title) in zip(axes[:, 0], runs, strict=True):
        summary = results["scenarios"][number]
        seconds = [bucket["second"] for bucket in summary["timeline"]]
        axis.plot(
            seconds,
            [b["ok"] for b in summary["timeline"]],
            label="all requests answered 2xx",
            color="tab:blue",
        )
        axis.plot(seconds, [b["join"] for b in summary["timeline"]], label="joins 2xx", color="tab:cyan")
        axis.plot(
            seconds, [b["call_next"] for b in summary["timeline"]], label="call-next 2xx", color="tab:green"
        )
        axis.bar(
            seconds,
            [b["fail"] + b["unknown"] for b in summary["timeline"]],
            color="tab:red",
            alpha=0.6,
            label="failed or unknown",
        )
        for event in summary.get("faults", []):
            axis.axvline(event["at"], color="black", linestyle="--", linewidth=0.8)
            axis.text(
                event["at"],
                axis.get_ylim()[1] * 0.97,
                " " + event["label"],
                rotation=90,
                fontsize=7,
                va="top",
                ha="left",
            )
        axis.set(
            title=f"scenario {number}: {title} — requests per second (by completion time)",
            xlabel="seconds since start",
            ylabel="per second",
        )
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# --- report.md --------------------------------------------------------------------------------------------


def _points_table(systems: dict[str, Any]) -> str:
    rows = []
    for system, points in systems.items():
        if not isinstance(points, list):
            continue
        for point in points:
            latency, cpu = point["latency_ms"], point["cpu"]
            rows.append(
                [
                    system,
                    point["concurrency"],
                    point["throughput"],
                    latency["p50"],
                    latency["p95"],
                    latency["p99"],
                    latency["max"],
                    _statuses(point),
                    f"{pct(cpu['loadgen_share'])}",
                    f"{pct(cpu['app_share'])}",
                    f"{pct(cpu['database_share'])}",
                    f"{pct(cpu['other_share'])}",
                ]
            )
    return table(
        [
            "system",
            "clients",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "answers",
            "load gen CPU",
            "app CPU",
            "PostgreSQL CPU",
            "other CPU",
        ],
        rows,
    )


def _statuses(point: dict[str, Any]) -> str:
    text = ", ".join(f"{status}: {count}" for status, count in point["statuses"].items())
    errors = ", ".join(f"{name}: {count}" for name, count in point.get("errors", {}).items())
    return text + (f"; {errors}" if errors else "")


def _per_request_cpu(results: dict[str, Any]) -> list[list[Any]]:
    """CPU milliseconds per answered request, by process group, at 32 clients (or the most measured)."""
    groups: list[tuple[str, dict[str, Any]]] = []
    for number in ("1", "2"):
        groups.append((number, results["scenarios"].get(number, {})))
    for shape, systems in results["scenarios"].get("3", {}).items():
        groups.append((f"3, {shape}", systems))
    rows = []
    for label, systems in groups:
        for system, points in systems.items():
            if not isinstance(points, list) or not points:
                continue
            point = _at(points, 32) or points[-1]
            cpu = point["cpu"]
            if not point["ok"]:
                continue
            per_request = cpu["wall_seconds"] * cpu.get("cores", 2) * 1000 / point["ok"]

            def ms(share: float | None, per_request: float = per_request) -> float | None:
                return None if share is None else round(share * per_request, 3)

            rows.append(
                [
                    label,
                    system,
                    point["concurrency"],
                    point["throughput"],
                    ms(cpu["app_share"]),
                    ms(cpu["database_share"]),
                    ms(cpu["loadgen_share"]),
                ]
            )
    return rows


_HEADER = """Run {date} at commit `{git_commit}` in {elapsed} s by `bench/run` on {machine}, Linux {kernel}, \
Python {python}, {postgresql}, {pgbench}; load generator: {load_generator}. Load average at start: {load}.
"""

_METHOD = """## How it was measured

- Everything ran on this one machine: the load generator, the app and PostgreSQL share its cores (the CPU \
columns say who used what, as shares of the whole box; "other" is anything else that ran meanwhile).
- A private PostgreSQL started for the bench and tuned for it: `{postgresql_settings}`. Durability is as \
in production (fsync, synchronous commit and full-page writes on): a 201 is on disk.
- waitline: `waitline serve --workers {waitline_workers}` in scenarios 1-3; scenarios 4-5 run two \
instances of one worker each. Idempotency keys on every join; rate limits ON (per client address \
`100000000/minute`, per mobile number `3/hour`, both counted inside the join's statement); JSON request and \
queue logs ON (to a file); Prometheus metrics ON. A pool of 20 connections kept open \
(`WAITLINE_POOL_SIZE=20`, `WAITLINE_POOL_MAX_OVERFLOW=0`), as the bare app's; scenario 1 also measures the \
default pool (no WAITLINE_POOL_* set). The load generator plays the load balancer: it is the trusted proxy \
(`WAITLINE_TRUSTED_PROXIES=127.0.0.1/32`) and each guest's own address travels in `X-Forwarded-For` \
(198.18.0.0/15). Every join has its own mobile number and idempotency key: no limit refuses the bench, \
yet both are counted on every join.
- The ceiling: `pgbench -M prepared` runs the same SQL (`bench/pgbench/*.sql`: one `waitline_join(...)` \
call with the same parameters and both rate-limit keys; one `waitline_call_next(...)` call) at the same \
concurrency on the same data (1,000 restaurants, or the one hot restaurant).
- The second reference: `bench/bare_app.py`, FastAPI + asyncpg with the same URLs, workers and 20 \
connections: the join as BEGIN / UPDATE counter RETURNING / INSERT / COMMIT (four round trips, no event \
appended), call-next as the same one statement (with its event); no idempotency, limits, validation \
beyond pydantic, logs, metrics or staff authentication.
- Each scenario starts with a `CHECKPOINT`: what earlier ones wrote is flushed before it, not during it.
- Closed loop, {seconds} s per point after a {warmup_seconds} s warm-up; wrk's latencies are per request, \
pgbench's per transaction (from its per-transaction log).
"""


def render(results: dict[str, Any], summary: str = "") -> str:
    env = results["environment"]
    scenarios = results["scenarios"]
    parts: list[str] = []
    add = parts.append
    add("# waitline bench report\n")
    if summary:
        add(summary)
    add(
        _HEADER.format(
            elapsed=results.get("elapsed_seconds", "?"), load=" ".join(env["load_average_at_start"]), **env
        )
    )
    add(_METHOD.format(**env, **results["plan"]))
    rows = ratio_rows(results)
    if rows:
        add("## The ratio table\n")
        add(
            table(
                [
                    "scenario",
                    "clients",
                    "waitline req/s",
                    "bare req/s",
                    "pgbench TPS",
                    "waitline / bare",
                    "waitline / pgbench",
                    "p99 waitline ms",
                    "p99 bare ms",
                    "p99 pgbench ms",
                ],
                [
                    [
                        r["scenario"],
                        r["concurrency"],
                        r["waitline"],
                        r["bare"],
                        r["pgbench"],
                        r["waitline_vs_bare"],
                        r["waitline_vs_pgbench"],
                        r["p99_waitline"],
                        r["p99_bare"],
                        r["p99_pgbench"],
                    ]
                    for r in rows
                ],
            )
            + "\n"
        )
    goals = targets(results)
    if goals:
        add("## Targets\n")
        add(
            table(
                ["target", "met?", "figure"],
                [[g["target"], "met" if g["met"] else "NOT met", g["figure"]] for g in goals],
            )
            + "\n"
        )
    add("## The checker's verdicts\n")
    add(_CHECKER)
    verdict_rows = []
    for name, verdict in results["checker"].items():
        bad = {anomaly: count for anomaly, count in verdict["anomalies"].items() if count}
        counts = verdict["counts"]
        verdict_rows.append(
            [
                name,
                "VALID" if verdict["valid"] else "INVALID",
                counts.get("attempts"),
                counts.get("joins_acknowledged"),
                counts.get("joins_unknown", 0) + counts.get("joins_anonymous_unknown", 0),
                counts.get("recovered"),
                counts.get("calls_acknowledged"),
                counts.get("entries_in_database"),
                ", ".join(f"{k}: {v}" for k, v in bad.items()) or "none",
            ]
        )
    add(
        table(
            [
                "history",
                "verdict",
                "attempts",
                "joins acked",
                "joins unknown",
                "recovered",
                "calls acked",
                "entries",
                "anomalies",
            ],
            verdict_rows,
        )
        + "\n"
    )
    for name, verdict in results["checker"].items():
        for anomaly, examples in verdict.get("examples", {}).items():
            add(f"- {name}, {anomaly}: " + "; ".join(examples[:3]))
    add("\n![latency and throughput against concurrency](latency_vs_concurrency.png)\n")
    for number, title in (
        ("1", "Scenario 1: joins, 1,000 restaurants"),
        ("2", "Scenario 2: joins to ONE restaurant"),
    ):
        if number in scenarios:
            add(f"## {title}\n")
            add(_points_table(scenarios[number]) + "\n")
    if "3" in scenarios:
        add("## Scenario 3: call-next\n")
        for shape, systems in scenarios["3"].items():
            add(
                f"### {shape}: {systems.get('waiting_per_restaurant')} waiting in each queue at the start of "
                f"a run ({systems.get('waiting_per_restaurant_pgbench')} for pgbench)\n"
            )
            add(_points_table(systems) + "\n")
        add("![call-next](call_next.png)\n")
    for number, title in (("4", "Scenario 4: the Friday rush"), ("5", "Scenario 5: faults during the rush")):
        if number in scenarios:
            add(f"## {title}\n")
            add(_rush_section(scenarios[number]))
    if "4" in scenarios or "5" in scenarios:
        add("![throughput over time, faults marked](rush_timeline.png)\n")
    parts += report_cost.sections(results)
    add("## Where the time goes\n")
    cpu_rows = _per_request_cpu(results)
    if cpu_rows:
        add(
            "CPU milliseconds spent per answered request at 32 clients (or the most measured), by process "
            "group (from /proc and the "
            "load generator's rusage):\n"
        )
        add(
            table(
                [
                    "scenario",
                    "system",
                    "clients",
                    "req/s",
                    "app CPU ms/req",
                    "PostgreSQL CPU ms/req",
                    "load gen CPU ms/req",
                ],
                cpu_rows,
            )
            + "\n"
        )
    profile = results.get("profile")
    if profile and profile.get("samples"):
        add(_PROFILE.format(**profile))
        add(
            table(["package", "share of samples"], [[n, f"{s:.1%}"] for n, s in profile["self_by_package"]])
            + "\n"
        )
        add("Inclusive (the package anywhere on the stack; a request spends time inside several at once):\n")
        add(
            table(
                ["package", "share of samples"], [[n, f"{s:.1%}"] for n, s in profile["inclusive_by_package"]]
            )
            + "\n"
        )
        add("Top functions by self time:\n")
        add(table(["function", "share"], [[n, f"{s:.1%}"] for n, s in profile["self_by_function"]]) + "\n")
    return "\n".join(parts) + "\n"


_CHECKER = """Jepsen-style `total-queue` over every attempt recorded and the final database \
(`bench/checker.py`): lost acknowledged joins or transitions, duplicated calls, keys or tokens, unexpected \
entries or calls, token gaps, keys mapped to several entries. "joins unknown": no answer, a dropped \
connection, a 5xx or the run's end; "recovered": such a join found in the database anyway.
"""

_PROFILE = """py-spy on waitline's workers while wrk joined at 32 clients ({samples} samples, \
{throughput_while_profiled} req/s while profiled). Self time by package (the code on the CPU when sampled; \
"stdlib asyncio" and "interpreter" include the event loop waiting for the network):
"""

_RUSH = """{seconds:.0f} s, two app instances (the clients split across both; a retry goes to the other \
one first), {restaurants} restaurants, guests arriving at ~{guests_per_second}/s (Poisson), each polling its \
entry every ~{seconds_between_polls} s while it waits (10% leave), {staff_per_restaurant} staff per \
restaurant pressing call-next every ~{seconds_between_presses} s, then seating the party (85%) or marking a \
no-show. {requests} requests ({requests_per_second}/s), {guests} guests of whom {guests_joined} joined; \
{failed_requests} requests not answered 2xx; the longest took {longest} s. CPU: the Python client \
(aiohttp, one process) {loadgen_share} of the box, the app {app_share}, PostgreSQL {database_share}, other \
{other_share}{not_measured}.
"""

_RECOVERY = """
PostgreSQL was down {postgresql_down_seconds} s. After it accepted connections again, the first request \
answered 2xx by each instance came {seconds_to_first_success_after_return} s later: the service was back \
after {service_back_after_seconds} s. Requests not answered 2xx from the restart until 5 s after the return: \
{failed_requests_while_postgresql_restarted}.
"""


def _rush_section(summary: dict[str, Any]) -> str:
    config = summary["config"]
    lines = [
        _RUSH.format(
            **config,
            **summary,
            longest=summary["longest_request"]["seconds"],
            **{name: pct(share) for name, share in summary["cpu"].items() if name.endswith("_share")},
            not_measured=(
                " (n/a: processes restarted during the run have no CPU total)"
                if None in summary["cpu"].values()
                else ""
            ),
        ),
        table(
            [
                "request",
                "attempts",
                "ok",
                "fail (4xx / refused)",
                "unknown",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "statuses",
            ],
            [
                [
                    kind,
                    k["attempts"],
                    k["ok"],
                    k["fail"],
                    k["unknown"],
                    k["latency_ms_ok"]["p50"],
                    k["latency_ms_ok"]["p95"],
                    k["latency_ms_ok"]["p99"],
                    k["latency_ms_ok"]["max"],
                    ", ".join(f"{s}: {n}" for s, n in k["statuses"].items()),
                ]
                for kind, k in summary["kinds"].items()
            ],
        ),
        "",
    ]
    if summary.get("faults"):
        lines.append("Faults (seconds since start):\n")
        lines += [f"- {event['at']:.2f} s: {event['label']}" for event in summary["faults"]]
        if summary.get("recovery"):
            lines.append(_RECOVERY.format(**summary["recovery"]))
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], out: Path, summary: str = "") -> None:
    """``summary``: what opens report.md (bench/summary.py, which bench/run also prints)."""
    out.mkdir(parents=True, exist_ok=True)
    results["ratios"] = ratio_rows(results)
    results["targets"] = targets(results)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    plot_latency(results, out / "latency_vs_concurrency.png")
    plot_call_next(results, out / "call_next.png")
    plot_rush(results, out / "rush_timeline.png")
    (out / "report.md").write_text(render(results, summary))
