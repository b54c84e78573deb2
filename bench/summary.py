"""The one-screen summary that bench/run prints first (and that opens report.md): every scenario measured,
waitline's figure against the bare endpoint's in the same run, the targets met and missed, the checker."""

from __future__ import annotations

from typing import Any

from bench import report, report_cost

# The concurrency each scenario's line is read at (the targets): the rest is in report.md.
_AT = {"1": 32, "2": 64}
_WIDTH = 100


def lines(results: dict[str, Any]) -> list[str]:
    scenarios = results["scenarios"]
    rows: list[tuple[str, str, str, str]] = []
    for row in report.ratio_rows(results):
        number = row["scenario"].split(":")[0]
        if number in _AT and row["concurrency"] != _AT[number]:
            continue
        rows.append(
            (
                f"{row['scenario']}, {row['concurrency']} clients",
                f"{row['waitline']}/s p99 {row['p99_waitline']} ms",
                f"{row['bare']}/s p99 {row['p99_bare']} ms" if row["bare"] is not None else "—",
                f"{row['waitline_vs_bare']}×" if row["waitline_vs_bare"] is not None else "—",
            )
        )
    one = scenarios.get("1", {})
    bare = report._at(one.get("bare", []), _AT["1"])
    for system, label in (("waitline-default-pool", "default pool"), ("waitline-sqlite", "SQLite")):
        point = report._at(one.get(system, []), _AT["1"]) or next(iter(one.get(system, [])), None)
        if point:
            ratio = report._ratio(point["throughput"], bare["throughput"] if bare else None)
            rows.append(
                (
                    f"1: joins, {label}, {point['concurrency']} clients",
                    f"{point['throughput']}/s p99 {point['latency_ms']['p99']} ms",
                    f"{bare['throughput']}/s" if bare else "—",
                    f"{ratio}×" if ratio is not None else "—",
                )
            )
    two = scenarios.get("2", {})
    coalesced = report._at(two.get("waitline", []), _AT["2"])
    # The ratio column: waitline (coalesced) against this figure.
    for system, label in (("waitline-coalesced", "joins, coalescing on"), ("pgbench", "pgbench, hot row")):
        point = report._at(two.get(system, []), _AT["2"])
        if point:
            ratio = report._ratio(coalesced["throughput"] if coalesced else None, point["throughput"])
            rows.append(
                (
                    f"2: {label}, {point['concurrency']} clients",
                    f"{point['throughput']}/s p99 {point['latency_ms']['p99']} ms",
                    "—",
                    f"{ratio}×" if ratio is not None else "—",
                )
            )
    six = scenarios.get("6")
    if six:
        totals = six["totals"]
        rows.append(
            (
                f"6: HEAD against {six['baseline']}, {six['concurrency']} clients",
                f"{totals[report_cost.HEAD]['throughput']}/s",
                f"{totals[report_cost.BASELINE]['throughput']}/s (baseline)",
                f"{six['ratio']}×",
            )
        )
    out = [
        "=" * _WIDTH,
        "waitline bench — summary (ratios within this run; details in report.md)",
        "-" * _WIDTH,
    ]
    if rows:
        widths = [max(len(cells[i]) for cells in [*rows, _HEAD]) for i in range(4)]
        for cells in [_HEAD, *rows]:
            out.append(
                "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
            )
    goals = report.targets(results)
    met = [goal for goal in goals if goal["met"]]
    out.append("-" * _WIDTH)
    out.append(f"targets: {len(met)} of {len(goals)} met")
    out += [_fit(f"  MISSED {goal['target']}: {goal['figure']}") for goal in goals if not goal["met"]]
    verdicts = results.get("checker", {})
    invalid = [name for name, verdict in verdicts.items() if not verdict["valid"]]
    out.append(
        f"checker: {len(verdicts)} histories, "
        + ("every one VALID" if not invalid else f"ANOMALIES in {', '.join(invalid)}")
    )
    out.append("=" * _WIDTH)
    return out


def _fit(line: str) -> str:
    return line if len(line) <= _WIDTH else line[: _WIDTH - 1] + "…"


_HEAD = ("scenario", "waitline", "bare endpoint", "ratio")


def markdown(results: dict[str, Any]) -> str:
    return "```\n" + "\n".join(lines(results)) + "\n```\n"
