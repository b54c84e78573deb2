"""The closed-loop load generators: wrk (with a Lua script) against HTTP servers, and pgbench (with a custom
script) against PostgreSQL itself. Each run reports throughput, latency percentiles and who used the CPU:
the load generator (its own rusage), the app's processes, and the rest of the box (mostly PostgreSQL)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.processes import ROOT, BoxCpu, Server, tree_cpu_seconds

HERE = Path(__file__).resolve().parent
WRK_SCRIPTS = HERE / "wrk"
PGBENCH_SCRIPTS = HERE / "pgbench"


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


@dataclass
class CpuUse:
    """CPU seconds over a run, and the shares of the whole box (all cores) they make. None: not measurable
    (a process it counts was restarted during the run)."""

    wall_seconds: float
    cores: int
    box_busy_seconds: float
    loadgen_seconds: float
    app_seconds: float | None
    database_seconds: float | None

    def share(self, seconds: float | None) -> float | None:
        if seconds is None:
            return None
        return round(seconds / (self.wall_seconds * self.cores), 3) if self.wall_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, float | None]:
        parts = (self.loadgen_seconds, self.app_seconds, self.database_seconds)
        other = None if None in parts else max(self.box_busy_seconds - sum(p or 0.0 for p in parts), 0.0)
        return {
            "wall_seconds": round(self.wall_seconds, 3),
            "cores": self.cores,
            "box_busy_share": self.share(self.box_busy_seconds),
            "loadgen_share": self.share(self.loadgen_seconds),
            "app_share": self.share(self.app_seconds),
            "database_share": self.share(self.database_seconds),
            # Anything else on the machine: the bench's own bookkeeping, the kernel, other users.
            "other_share": self.share(other),
        }


@dataclass(frozen=True)
class _Reading:
    monotonic: float
    box: float
    app: float
    database: float
    pids: tuple[int | None, ...]


class CpuProbe:
    """Reads the CPU time of the app's processes and of PostgreSQL's, before and after a run."""

    def __init__(
        self, servers: Sequence[Server] = (), database_pid: Callable[[], int | None] | None = None
    ) -> None:
        self.servers = servers
        self.database_pid = database_pid

    def _pids(self) -> tuple[int | None, ...]:
        database = self.database_pid() if self.database_pid else None
        return (database, *(server.process.pid if server.process else None for server in self.servers))

    def start(self) -> _Reading:
        return self._read()

    def _read(self) -> _Reading:
        box, _ = BoxCpu.busy_and_total()
        pids = self._pids()
        database = tree_cpu_seconds(pids[0]) if pids[0] else 0.0
        app = sum(server.cpu_seconds() for server in self.servers)
        return _Reading(time.monotonic(), box, app, database, pids)

    def stop(self, started: _Reading, loadgen_seconds: float) -> CpuUse:
        ended = self._read()
        database_same = ended.pids[0] == started.pids[0]
        app_same = ended.pids[1:] == started.pids[1:]
        return CpuUse(
            wall_seconds=ended.monotonic - started.monotonic,
            cores=BoxCpu().cores,
            box_busy_seconds=ended.box - started.box,
            loadgen_seconds=loadgen_seconds,
            app_seconds=ended.app - started.app if app_same else None,
            database_seconds=ended.database - started.database if database_same else None,
        )


@dataclass
class Measurement:
    """One closed-loop run at one concurrency."""

    system: str
    concurrency: int
    requests: int
    ok: int
    seconds: float
    latency_ms: dict[str, float]
    cpu: CpuUse
    statuses: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "concurrency": self.concurrency,
            "requests": self.requests,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "throughput": round(self.throughput, 1),
            "latency_ms": {name: round(value, 2) for name, value in self.latency_ms.items()},
            "statuses": self.statuses,
            "errors": self.errors,
            "cpu": self.cpu.as_dict(),
        }


def run_with_cpu(command: list[str], *, probe: CpuProbe, output: Path) -> tuple[int, CpuUse]:
    """Run a load generator to its end; its own CPU comes from its rusage, the others' from /proc."""
    started = probe.start()
    with output.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, probe.stop(started, usage.ru_utime + usage.ru_stime)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


@dataclass
class WrkLog:
    """What each response was, as the Lua script wrote it: status, entry id, token, idempotency key."""

    lines: list[tuple[int, str | None, int | None, str | None]]

    def statuses(self) -> dict[str, int]:
        return {str(status): count for status, count in sorted(Counter(s for s, *_ in self.lines).items())}


def _read_wrk_logs(directory: Path, prefix: str) -> WrkLog:
    lines: list[tuple[int, str | None, int | None, str | None]] = []
    for path in sorted(directory.glob(f"{prefix}-*.log")):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) != 4:
                continue
            status, entry, number, key = (None if part == "-" else part for part in parts)
            assert status is not None
            lines.append((int(status), entry, None if number is None else int(number), key))
    return WrkLog(lines)


def run_wrk(
    *,
    system: str,
    script: str,
    server: Server,
    probe: CpuProbe,
    concurrency: int,
    seconds: float,
    script_args: Sequence[str],
    workdir: Path,
    prefix: str,
    ok_statuses: Sequence[int],
    use_wrk: bool = True,
    first: int = 1,
) -> tuple[Measurement, WrkLog]:
    """``wrk -c concurrency`` for ``seconds``; the Lua script logs every response under ``prefix``."""
    output = workdir / f"{prefix}.loadgen.txt"
    if use_wrk:
        command = [
            "wrk",
            "-t",
            str(min(concurrency, 2)),
            "-c",
            str(concurrency),
            "-d",
            f"{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(WRK_SCRIPTS / script),
            server.base_url,
            "--",
            *script_args,
            str(workdir),
            prefix,
            str(first),
        ]
    else:
        command = [
            sys.executable,
            "-m",
            "bench.pyload",
            script,
            server.base_url,
            str(concurrency),
            str(seconds),
            *script_args,
            str(workdir),
            prefix,
            str(first),
        ]
    returncode, cpu = run_with_cpu(command, probe=probe, output=output)
    text = output.read_text(errors="replace")
    result_line = next((line for line in text.splitlines() if line.startswith("WRK_RESULT ")), None)
    if returncode != 0 or result_line is None:
        raise RuntimeError(f"wrk failed ({returncode}):\n{text}")
    result = json.loads(result_line.removeprefix("WRK_RESULT "))
    log = _read_wrk_logs(workdir, prefix)
    ok = sum(1 for status, *_ in log.lines if status in ok_statuses)
    latency = {name: result[name] / 1000 for name in ("p50", "p90", "p95", "p99", "p99.9")}
    latency["mean"] = result["mean_us"] / 1000
    latency["max"] = result["max_us"] / 1000
    errors = {
        name: result[name]
        for name in ("connect_errors", "read_errors", "write_errors", "timeouts")
        if result[name]
    }
    # Sent, but the run ended before the answer came: the server may well have done them.
    in_flight = result.get("issued", 0) - len(log.lines) - sum(errors.values())
    if in_flight > 0:
        errors["in_flight_at_end"] = in_flight
    measurement = Measurement(
        system=system,
        concurrency=concurrency,
        requests=result["requests"],
        ok=ok,
        seconds=result["duration_us"] / 1e6,
        latency_ms=latency,
        cpu=cpu,
        statuses=log.statuses(),
        errors=errors,
    )
    return measurement, log


def run_pgbench(
    *,
    system: str,
    script: str | Path,
    database_url: str,
    concurrency: int,
    seconds: float,
    variables: dict[str, str],
    workdir: Path,
    probe: CpuProbe,
) -> Measurement:
    """``pgbench -M prepared`` with a custom script (a name in bench/pgbench/, or a path); latencies from its
    per-transaction log."""
    logs = Path(tempfile.mkdtemp(prefix="pgbench-", dir=workdir))
    threads = min(concurrency, 2)
    command = [
        "pgbench",
        "-n",
        "-M",
        "prepared",
        "-c",
        str(concurrency),
        "-j",
        str(threads),
        "-T",
        str(int(seconds)),
        "-f",
        str(PGBENCH_SCRIPTS / script),
        "-l",
        "--log-prefix",
        str(logs / "tx"),
    ]
    for name, value in variables.items():
        command += ["-D", f"{name}={value}"]
    command.append(database_url)
    output = workdir / f"{system}-{Path(script).name}-c{concurrency}.pgbench.txt"
    returncode, cpu = run_with_cpu(command, probe=probe, output=output)
    text = output.read_text(errors="replace")
    if returncode != 0:
        raise RuntimeError(f"pgbench failed ({returncode}):\n{text}")
    latencies: list[float] = []
    failed = 0
    first: float | None = None
    last: float | None = None
    for path in logs.iterdir():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) < 6:
                continue
            if not parts[2].isdigit():
                failed += 1
                continue
            latencies.append(int(parts[2]) / 1000)
            finished = int(parts[4]) + int(parts[5]) / 1e6
            first = finished if first is None else min(first, finished)
            last = finished if last is None else max(last, finished)
    shutil.rmtree(logs, ignore_errors=True)
    latencies.sort()
    duration = seconds
    for line in text.splitlines():
        if line.startswith("duration:"):
            duration = float(line.split()[1])
    latency = {name: percentile(latencies, fraction) for name, fraction in _FRACTIONS.items()}
    latency["mean"] = sum(latencies) / len(latencies) if latencies else 0.0
    latency["max"] = latencies[-1] if latencies else 0.0
    return Measurement(
        system=system,
        concurrency=concurrency,
        requests=len(latencies) + failed,
        ok=len(latencies),
        seconds=duration,
        latency_ms=latency,
        cpu=cpu,
        statuses={"ok": len(latencies), "failed": failed},
    )


_FRACTIONS = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p99.9": 0.999}
