"""Where a waitline worker's time goes: py-spy samples the running server (all its worker processes) and
this sums the samples by the package whose code was on the CPU (self time) and by function."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")

# Top-level packages worth naming on their own (py-spy names files relative to their sys.path entry).
_GROUPS = {
    "waitline": "waitline (our code)",
    "sqlalchemy": "SQLAlchemy",
    "asyncpg": "asyncpg",
    "fastapi": "FastAPI",
    "starlette": "Starlette",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",
    "structlog": "structlog (logging)",
    "logging": "stdlib logging",
    "prometheus_client": "prometheus_client (metrics)",
    "uvicorn": "uvicorn",
    "httptools": "uvicorn",
    "uvloop": "uvloop",
    "phonenumbers": "phonenumbers",
    "anyio": "anyio",
    "asyncio": "stdlib asyncio",
    "json": "stdlib json",
}


def py_spy() -> str | None:
    return shutil.which("py-spy") or (
        str(Path(sys.executable).parent / "py-spy") if _beside_python() else None
    )


def _beside_python() -> bool:
    return (Path(sys.executable).parent / "py-spy").exists()


def available() -> bool:
    return py_spy() is not None


def start(pid: int, output: Path, *, seconds: int) -> subprocess.Popen[bytes]:
    command = [
        py_spy() or "py-spy",
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--duration",
        str(seconds),
        "--rate",
        "200",
        "--format",
        "raw",
        "--output",
        str(output),
        "--nonblocking",
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def group_of(file: str) -> str:
    """The package a frame's file belongs to: ``sqlalchemy/engine/base.py`` -> SQLAlchemy."""
    path = file.replace("\\", "/")
    if "/site-packages/" in path:
        path = path.split("/site-packages/", 1)[1]
    if path.startswith("<") or not path:
        return "interpreter"
    top = path.split("/", 1)[0]
    if top in _GROUPS:
        return _GROUPS[top]
    if "/" not in path:
        return f"stdlib ({path})" if path.endswith(".py") else path
    return top


def summarise(collapsed: str) -> dict[str, Any]:
    """Self samples by group and by function, and inclusive samples by group, from py-spy's raw output."""
    by_group: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame for frame in stack.split(";") if frame]
        # py-spy puts "process ..." and thread frames first with --subprocesses.
        frames = [frame for frame in frames if _FRAME.match(frame)]
        if not frames:
            continue
        total += count
        leaf = _FRAME.match(frames[-1])
        assert leaf is not None
        group = group_of(leaf.group("file"))
        by_group[group] += count
        by_function[f"{leaf.group('function')} ({Path(leaf.group('file')).name})"] += count
        seen = set()
        for frame in frames:
            match = _FRAME.match(frame)
            assert match is not None
            seen.add(group_of(match.group("file")))
        for name in seen:
            inclusive[name] += count

    def shares(counter: Counter[str], most: int) -> list[list[Any]]:
        return [[name, round(count / total, 3)] for name, count in counter.most_common(most)] if total else []

    return {
        "samples": total,
        "self_by_package": shares(by_group, 20),
        "inclusive_by_package": shares(inclusive, 20),
        "self_by_function": shares(by_function, 15),
    }


def finish(spy: subprocess.Popen[bytes], output: Path) -> dict[str, Any]:
    try:
        spy.wait(timeout=60)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait()
    if not output.exists():
        return {"samples": 0, "error": "py-spy wrote nothing (is ptrace allowed?)"}
    return summarise(output.read_text(errors="replace"))
