"""The report's part on what the event log costs (scenarios 6 and 7, bench/cost.py): targets and sections."""

from __future__ import annotations

from typing import Any

from bench.markdown import pct, table

# The systems bench/cost.py compares: waitline at HEAD and at the baseline (6); pgbench on schema 0004, on
# the event log, and on the event log with the app's NOTIFY after each join (7).
HEAD, BASELINE = "waitline-head", "waitline-baseline"
TRIGGERS, LOG, LOG_NOTIFY = "0004-notify-triggers", "event-log", "event-log+notify"

# Issue 8: join throughput at 32 clients with the event log at least this share of main's before it.
HEAD_OVER_BASELINE = 0.95


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    scenarios = results["scenarios"]
    out = []
    six = scenarios.get("6")
    if six:
        totals, rounds = six["totals"], six["round_ratios"]
        out.append(
            {
                "target": f"scenario 6, {six['concurrency']} clients: joins with the event log "
                f"≥ {HEAD_OVER_BASELINE}× main before it ({six['baseline']})",
                "met": six["ratio"] >= HEAD_OVER_BASELINE,
                "figure": f"{totals[HEAD]['throughput']} vs {totals[BASELINE]['throughput']} req/s = "
                f"{six['ratio']}× (rounds {min(rounds)}–{max(rounds)}×)",
            }
        )
    seven = scenarios.get("7")
    if seven:
        pairs = list(zip(seven[TRIGGERS], seven[LOG_NOTIFY], strict=True))
        out.append(
            {
                "target": "scenario 7: pgbench on many restaurants, the event log path (with its NOTIFY "
                "after commit) not lower than round one's NOTIFY triggers, at every concurrency",
                "met": all(new["throughput"] >= old["throughput"] for old, new in pairs),
                "figure": "; ".join(
                    f"c={old['concurrency']}: {new['throughput']} vs {old['throughput']} TPS = "
                    f"{_ratio(new, old)}×"
                    for old, new in pairs
                ),
            }
        )
    return out


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    return round(a["throughput"] / b["throughput"], 2) if b["throughput"] else None


_SIX = """Joins at {concurrency} clients to {restaurants} restaurants, scenario 1's setup (workers, pool, \
limits, logs), through waitline at HEAD and at `{baseline}` (main before the event log), both serving at \
once from the same .venv on the same PostgreSQL, in {round_count} rounds of {seconds} s; each round measures \
both, the order alternating (ABBA), after one {warmup} s warm-up each. The baseline runs from `git archive \
{baseline} src` first on PYTHONPATH (its waitline imported from `{baseline_path}`) on a database its own \
migrations made. **HEAD / baseline: {ratio}×** (joins answered per second over all rounds).
"""

_SEVEN = """pgbench `-M prepared` on {restaurants} restaurants, the same `waitline_join(...)` call \
(`bench/pgbench/join.sql`) in three databases of the same server, the systems' order alternating from one \
concurrency to the next:

- `{triggers}`: round one's schema, waitline's migrations stopped at revision 0004: its NOTIFY triggers \
fire at every join, and every notifying commit takes PostgreSQL's one notify lock in turn.
- `{log}`: HEAD's schema: the join appends its event inside `waitline_join` (the restaurant's counter row, \
locked already, also holds the log's head); no trigger.
- `{log_notify}`: the same, plus what the app sends after commit (`store/signals.py`): here one \
`pg_notify` in a transaction of its own after EVERY join, the most the app can send (it coalesces them per \
process, one in flight at a time); its latency counts in each transaction's, which a guest never waits for.

Nobody LISTENs in any of them (PostgreSQL queues the notifications all the same).
"""


def sections(results: dict[str, Any]) -> list[str]:
    scenarios = results["scenarios"]
    parts: list[str] = []
    six = scenarios.get("6")
    if six:
        plan = results["plan"]
        parts.append(f"## Scenario 6: the event log's cost — waitline at HEAD against {six['baseline']}\n")
        parts.append(
            _SIX.format(
                **six,
                round_count=len(six["rounds"]),
                seconds=plan["seconds"],
                warmup=plan["warmup_seconds"],
                baseline_path=six["imported_from"][BASELINE],
            )
        )
        parts.append(_rounds_table(six) + "\n")
        parts.append(_totals_table(six) + "\n")
        parts.append(_cpu_per_join(six))
        if six.get("profiles"):
            parts.append(_profiles(six) + "\n")
    seven = scenarios.get("7")
    if seven:
        parts.append("## Scenario 7: pgbench — round one's NOTIFY triggers against the event log\n")
        names = {"triggers": TRIGGERS, "log": LOG, "log_notify": LOG_NOTIFY}
        parts.append(_SEVEN.format(restaurants=results["plan"]["restaurants"], **names))
        parts.append(_pgbench_table(seven) + "\n")
    return parts


def _rounds_table(six: dict[str, Any]) -> str:
    rows = [
        [
            measured["round"],
            " then ".join("HEAD" if system == HEAD else "baseline" for system in measured["order"]),
            measured[HEAD]["throughput"],
            measured[BASELINE]["throughput"],
            ratio,
            measured[HEAD]["latency_ms"]["p99"],
            measured[BASELINE]["latency_ms"]["p99"],
            " / ".join(pct(measured[system]["cpu"]["other_share"]) for system in (HEAD, BASELINE)),
        ]
        for measured, ratio in zip(six["rounds"], six["round_ratios"], strict=True)
    ]
    headers = ["round", "order", "HEAD req/s", "baseline req/s", "HEAD / baseline", "p99 HEAD ms",
               "p99 baseline ms", "other work's CPU, HEAD / baseline"]  # fmt: skip
    return table(headers, rows)


def _totals_table(six: dict[str, Any]) -> str:
    rows = [
        [
            label,
            totals["throughput"],
            totals["p99_ms_median"],
            totals["app_cpu_ms_per_join"],
            totals["database_cpu_ms_per_join"],
        ]
        for label, totals in (("HEAD", six["totals"][HEAD]), (six["baseline"], six["totals"][BASELINE]))
    ]
    headers = ["waitline", "req/s (all rounds)", "p99 ms (median of rounds)", "app CPU ms/join",
               "PostgreSQL CPU ms/join"]  # fmt: skip
    return table(headers, rows)


def _cpu_per_join(six: dict[str, Any]) -> str:
    """The steadier figure on a shared box: what a join costs in CPU, whoever else ran meanwhile."""
    head, baseline = (six["totals"][system] for system in (HEAD, BASELINE))
    cost = {
        name: (totals["app_cpu_ms_per_join"] or 0) + (totals["database_cpu_ms_per_join"] or 0)
        for name, totals in (("head", head), ("baseline", baseline))
    }
    rounds = six["round_ratios"]
    spread = (
        f"The rounds disagree by up to {max(rounds) / min(rounds):.2f}×: other work on the box came and went "
        "(the last column). "
        if min(rounds) and max(rounds) / min(rounds) > 1.2
        else ""
    )
    if not cost["baseline"]:
        return ""
    ratio = cost["head"] / cost["baseline"]
    return (
        f"{spread}CPU per join, app and PostgreSQL together: HEAD {cost['head']:.2f} ms, baseline "
        f"{cost['baseline']:.2f} ms = {ratio:.2f}×; where the box's CPU is the bound, throughput goes as the "
        f"inverse: {1 / ratio:.2f}×.\n"
    )


def _profiles(six: dict[str, Any]) -> str:
    """py-spy's self time by package, as CPU milliseconds per join, for both versions side by side."""
    per_join: dict[str, dict[str, float]] = {}
    for system, summary in six["profiles"].items():
        app = summary.get("app_cpu_ms_per_join")
        if not summary.get("samples") or app is None:
            return "(no profile: py-spy wrote nothing)\n"
        per_join[system] = {name: share * app for name, share in summary["self_by_package"]}
        per_join[system]["all (the app's CPU time per join)"] = app
    names = sorted(
        set(per_join[HEAD]) | set(per_join[BASELINE]),
        key=lambda name: -max(per_join[HEAD].get(name, 0), per_join[BASELINE].get(name, 0)),
    )
    rows = [
        [
            name,
            round(per_join[HEAD].get(name, 0), 3),
            round(per_join[BASELINE].get(name, 0), 3),
            round(per_join[HEAD].get(name, 0) - per_join[BASELINE].get(name, 0), 3),
        ]
        for name in names
    ]
    intro = (
        "Where a join's time goes in the app: each version profiled with py-spy while it joined after the "
        "rounds; the app's CPU time per join (from /proc) split by the share of py-spy's samples in each "
        "package (self time: the code on the CPU):\n\n"
    )
    return intro + table(["package", "HEAD ms/join", "baseline ms/join", "HEAD − baseline"], rows)


def _pgbench_table(seven: dict[str, Any]) -> str:
    rows = []
    for old, log, notify in zip(seven[TRIGGERS], seven[LOG], seven[LOG_NOTIFY], strict=True):
        rows.append(
            [
                old["concurrency"],
                old["throughput"],
                log["throughput"],
                notify["throughput"],
                _ratio(log, old),
                _ratio(notify, old),
                old["latency_ms"]["p99"],
                log["latency_ms"]["p99"],
                notify["latency_ms"]["p99"],
            ]
        )
    headers = ["clients", f"{TRIGGERS} TPS", f"{LOG} TPS", f"{LOG_NOTIFY} TPS", f"{LOG} / triggers",
               f"{LOG_NOTIFY} / triggers", "p99 triggers ms", f"p99 {LOG} ms",
               f"p99 {LOG_NOTIFY} ms"]  # fmt: skip
    return table(headers, rows)
