"""A pytest plugin: after the whole session, the logs the suite made hold no full mobile number.

Loaded from tests/conftest.py (``pytest_plugins = ["tests.log_audit"]``) or with ``-p tests.log_audit``.
It audits

* every ``*.log`` file under the session's base temporary folder: the output of each real ``waitline serve``
  (``tests.conftest.start_server`` writes ``server-N.log`` into the test's ``tmp_path``) and any other log a
  test keeps there;
* what each test's in-process app logged: the captured stderr of every test phase.

A match of ``+`` and 8 to 15 digits (E.164 without its mask) fails the run: the exit status is set to
"tests failed" and the offending lines are printed. Masked numbers (``+1415*****01``) never match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

UNMASKED_NUMBER = re.compile(r"\+\d{8,15}")
LOG_FILES = "*.log"
# The section of a test report that holds what in-process apps logged: their handler writes to stderr.
# ("Captured log" is pytest's own rendering of the raw records, before our formatter masks them.)
_LOG_SECTIONS = ("Captured stderr",)
_MAX_LINE = 300


@dataclass(frozen=True)
class Finding:
    where: str
    line_number: int
    line: str

    def __str__(self) -> str:
        line = self.line if len(self.line) <= _MAX_LINE else self.line[:_MAX_LINE] + "..."
        return f"{self.where}:{self.line_number}: {line}"


def unmasked_numbers_in_text(text: str, where: str) -> list[Finding]:
    return [
        Finding(where, number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if UNMASKED_NUMBER.search(line)
    ]


def unmasked_numbers_in_files(paths: Iterable[Path]) -> list[Finding]:
    """Every line of these files that holds a full phone number."""
    findings: list[Finding] = []
    for path in sorted(paths):
        findings += unmasked_numbers_in_text(path.read_text(errors="replace"), str(path))
    return findings


def log_files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob(LOG_FILES) if path.is_file()]


# What the test phases' captured output showed, gathered as reports come in; and what the audit found in
# all, for the summary. Both are reset per session.
_captured: list[Finding] = []
_found: list[Finding] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    _captured.clear()
    _found.clear()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # A report repeats the sections of the phases before it: take only its own phase's.
    for section, text in report.sections:
        if section.startswith(_LOG_SECTIONS) and section.endswith(f" {report.when}"):
            _captured.extend(unmasked_numbers_in_text(text, f"{report.nodeid} ({section})"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    findings = list(_captured)
    factory: pytest.TempPathFactory | None = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None:
        findings += unmasked_numbers_in_files(log_files(factory.getbasetemp()))
    _found[:] = findings
    if findings:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _found:
        terminalreporter.write_sep(
            "=", f"log audit: {len(_found)} log lines hold a full phone number", red=True
        )
        for finding in _found:
            terminalreporter.write_line(str(finding))
