"""bench/run's one-screen summary: every scenario measured against the bare endpoint, the targets missed,
the checker's verdict, in at most one screen, from a committed run's results."""

from __future__ import annotations

import json
from pathlib import Path

from bench import summary

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results" / "2026-11-29" / "results.json"


def test_the_summary_fits_one_screen_and_names_each_scenario_against_bare() -> None:
    results = json.loads(RESULTS.read_text())
    lines = summary.lines(results)

    assert len(lines) <= 40 and all(len(line) <= 100 for line in lines)
    text = "\n".join(lines)
    assert "1: joins, 1,000 restaurants, 32 clients" in text and "0.26×" in text
    assert "2: joins, one hot restaurant, 64 clients" in text
    assert "1: joins, SQLite, 32 clients" in text
    assert "targets: 2 of 12 met" in text
    assert "checker: 8 histories, every one VALID" in text
    assert summary.markdown(results).startswith("```\n=")
