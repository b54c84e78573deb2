"""The bench runs end to end on a tiny setting, so that it cannot rot: every scenario against real servers,
pgbench, the checker over every history, the report, the figures file and the plots.

Nothing here looks at a time or a rate: the machine is shared, and benchmarks are not tests. (Where wrk
is not installed, the bench falls back to its Python load generator; both write the same logs.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench import runner

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SMOKE_TIMEOUT_SECONDS = 600


def test_bench_run_is_valid_shell() -> None:
    assert subprocess.run(["bash", "-n", str(ROOT / "bench" / "run")], check=False).returncode == 0


def test_the_quick_bench_runs_every_scenario_and_writes_the_report(tmp_path: Path) -> None:
    out, work = tmp_path / "out", tmp_path / "work"

    finished = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), "--work", str(work)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_SECONDS,
        check=False,
    )

    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-4000:]
    results = json.loads((out / "results.json").read_text())
    assert set(results["scenarios"]) == {"1", "2", "3", "4", "5", "6", "7"}
    assert set(results["scenarios"]["1"]) == {
        "waitline",
        "waitline-default-pool",
        "bare",
        "pgbench",
        "waitline-sqlite",
    }
    assert set(results["scenarios"]["2"]) == {"waitline", "waitline-coalesced", "bare", "pgbench"}
    for system, points in (*results["scenarios"]["1"].items(), *results["scenarios"]["2"].items()):
        expected = (
            [runner.QUICK.default_pool_concurrency]
            if system.endswith("default-pool")
            else runner.QUICK.concurrencies
        )
        assert [point["concurrency"] for point in points] == list(expected)
        assert all(point["ok"] > 0 for point in points), points
    for shape in results["scenarios"]["3"].values():
        assert all(shape[system][0]["ok"] > 0 for system in ("waitline", "bare", "pgbench")), shape
    for rush in ("4", "5"):
        kinds = results["scenarios"][rush]["kinds"]
        assert kinds["join"]["ok"] > 0 and kinds["call_next"]["ok"] > 0, kinds
    assert [event["label"] for event in results["scenarios"]["5"]["faults"]] == [
        "postgresql: restart -m fast asked",
        "postgresql: accepting connections again",
        "instance-a: SIGKILL",
        "instance-a: started again, healthy",
        "instance-b: SIGTERM",
        "instance-b: exited with 0",
        "instance-b: started again, healthy",
    ]
    # Scenario 6: HEAD and the baseline each joined in every round, the baseline from its own source tree.
    six = results["scenarios"]["6"]
    assert Path(six["imported_from"]["waitline-baseline"]).is_relative_to(
        work / f"baseline-{six['baseline']}"
    )
    assert Path(six["imported_from"]["waitline-head"]).is_relative_to(ROOT / "src")
    assert len(six["rounds"]) == runner.QUICK.cost_rounds
    assert all(
        measured[system]["ok"] > 0
        for measured in six["rounds"]
        for system in ("waitline-head", "waitline-baseline")
    )
    # Scenario 7: pgbench on the three schemas at every concurrency.
    for points in results["scenarios"]["7"].values():
        assert [point["concurrency"] for point in points] == list(runner.QUICK.concurrencies)
        assert all(point["ok"] > 0 for point in points), points
    assert len(results["checker"]) == 9  # with the hot queue coalesced (scenario 2)
    assert all(verdict["valid"] for verdict in results["checker"].values()), results["checker"]
    assert {target["target"] for target in results["targets"]} >= {
        "scenario 5: zero anomalies",
        "scenario 5: no request longer than 6 s",
    }
    assert {target["target"].split(":")[0].split(",")[0] for target in results["targets"]} >= {
        "scenario 6",
        "scenario 7",
    }
    report = (out / "report.md").read_text()
    assert "## The ratio table" in report and "## The checker's verdicts" in report
    for plot in ("latency_vs_concurrency.png", "call_next.png", "rush_timeline.png"):
        assert (out / plot).read_bytes().startswith(b"\x89PNG"), plot
    assert "## Scenario 6: the event log's cost" in report and "## Scenario 7: pgbench" in report
    for history in ("joins-postgresql", "joins-sqlite", "rush", "faults", "cost-head", "cost-baseline"):
        assert (work / f"history-{history}.jsonl").stat().st_size > 0, history
