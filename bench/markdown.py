"""Markdown for the report: numbers as people read them, and tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def pct(share: float | None) -> str:
    """A share of the box as a percentage; n/a where it could not be measured."""
    return "n/a" if share is None else f"{share:.0%}"


def fmt(value: Any, suffix: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}{suffix}" if abs(value) >= 10 else f"{value:.2f}{suffix}"
    return f"{value}{suffix}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
