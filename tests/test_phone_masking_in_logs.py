"""No full mobile number leaves the process in a log line: the masking processor on structlog events and on
the standard library's records (uvicorn's, and exceptions' tracebacks), and the audit that greps every log
of the test session for one (``tests.log_audit``), shown here to catch a planted number.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests import log_audit
from waitline.observability import configure_logging, mask_phone_numbers

US_NUMBER, US_MASKED = "+14155550101", "+1415*****01"
UK_NUMBER, UK_MASKED = "+447911123456", "+44791*****56"
REPOSITORY = Path(__file__).resolve().parent.parent


def test_the_processor_masks_numbers_in_every_string_field_and_leaves_the_rest() -> None:
    event: dict[str, Any] = {
        "event": f"call {US_NUMBER} or {UK_NUMBER}",
        "mobile": US_NUMBER,
        "token": 7,
        "party": None,
        "note": "nothing to see, not even +44",
        "when": "2026-11-28T18:00:00+00:00",
    }

    masked = mask_phone_numbers(None, "info", dict(event))

    assert masked == {
        **event,
        "event": f"call {US_MASKED} or {UK_MASKED}",
        "mobile": US_MASKED,
    }
    assert not log_audit.UNMASKED_NUMBER.search(json.dumps(masked))


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back for the tests that follow."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    uvicorn = {
        name: (
            logging.getLogger(name).handlers[:],
            logging.getLogger(name).propagate,
            logging.getLogger(name).disabled,
        )
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
    }
    structlog_config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, (saved, propagate, disabled) in uvicorn.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = saved
        logger.propagate, logger.disabled = propagate, disabled
    structlog.configure(**structlog_config)


def log_everything_with_a_number() -> None:
    """A structlog event, a standard library record (as uvicorn writes them), and two tracebacks."""
    structlog.get_logger("waitline.test").info("queue.join", mobile=US_NUMBER, detail=f"from {UK_NUMBER}")
    logging.getLogger("uvicorn.error").warning("client %s said %s", US_NUMBER, UK_NUMBER)
    logging.getLogger("waitline.web").info("extra fields", extra={"mobile": US_NUMBER})
    # A database error's text carries the statement's parameters, the mobile among them.
    error = RuntimeError(
        f"duplicate key (restaurant_id, mobile)=(1, {US_NUMBER}) [parameters: ('{UK_NUMBER}',)]"
    )
    try:
        raise error
    except RuntimeError:
        logging.getLogger("waitline.web").exception("unhandled error")
        structlog.get_logger("waitline.test").exception("join failed")


@pytest.mark.usefixtures("logging_restored")
def test_json_log_lines_carry_only_masked_numbers_even_in_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(json=True)

    log_everything_with_a_number()

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert [line["event"] for line in lines] == [
        "queue.join",
        f"client {US_MASKED} said {UK_MASKED}",
        "extra fields",
        "unhandled error",
        "join failed",
    ]
    assert (lines[0]["mobile"], lines[0]["detail"]) == (US_MASKED, f"from {UK_MASKED}")
    assert lines[2]["mobile"] == US_MASKED
    for traceback in (lines[3]["exception"], lines[4]["exception"]):
        assert "RuntimeError: duplicate key" in traceback
        assert US_MASKED in traceback and UK_MASKED in traceback
    assert not log_audit.UNMASKED_NUMBER.search(json.dumps(lines))


@pytest.mark.usefixtures("logging_restored")
def test_console_log_lines_carry_only_masked_numbers_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=False)

    log_everything_with_a_number()

    output = capsys.readouterr().err
    assert "queue.join" in output and "RuntimeError: duplicate key" in output
    assert US_MASKED in output and UK_MASKED in output
    assert not log_audit.UNMASKED_NUMBER.search(output), output


# --- the audit of the session's logs ----------------------------------------------------------------------


def test_the_audit_finds_a_full_number_in_a_server_log_and_passes_masked_ones(tmp_path: Path) -> None:
    # Named so that the session-end audit itself does not scan it (it reads *.log files).
    planted = tmp_path / "server-planted.log.txt"
    planted.write_text(
        "\n".join(
            [
                json.dumps(
                    {"event": "queue.join", "mobile": US_MASKED, "timestamp": "2026-11-28T18:00:00+00:00"}
                ),
                json.dumps({"event": "queue.join", "mobile": UK_NUMBER}),
                "Exception: key (mobile)=(+14155550101) already exists",
                json.dumps({"event": "request", "duration_ms": 12.5, "request_id": "+12"}),
            ]
        )
    )

    findings = log_audit.unmasked_numbers_in_files([planted])

    assert [(finding.line_number, re.findall(r"\+\d+", finding.line)) for finding in findings] == [
        (2, [UK_NUMBER]),
        (3, [US_NUMBER]),
    ]
    assert all(finding.where == str(planted) for finding in findings)


def test_the_audit_reads_every_log_file_under_a_folder(tmp_path: Path) -> None:
    (tmp_path / "test_a").mkdir()
    (tmp_path / "test_a" / "server-0.log").write_text("{}\n")
    (tmp_path / "test_b" / "deeper").mkdir(parents=True)
    (tmp_path / "test_b" / "deeper" / "worker.log").write_text("{}\n")
    (tmp_path / "test_b" / "notes.txt").write_text(US_NUMBER)

    assert sorted(path.relative_to(tmp_path).as_posix() for path in log_audit.log_files(tmp_path)) == [
        "test_a/server-0.log",
        "test_b/deeper/worker.log",
    ]


LEAKY_SESSION = """
import sys


def test_a_server_that_logs_a_full_number(tmp_path):
    (tmp_path / "server-0.log").write_text('{"event": "queue.join", "mobile": "%s"}\\n')


def test_an_app_that_logs_only_masked_numbers(tmp_path):
    (tmp_path / "server-1.log").write_text('{"event": "queue.join", "mobile": "%s"}\\n')
    print('{"event": "queue.join", "mobile": "%s"}', file=sys.stderr)
"""


def run_pytest_with_the_audit(test_file: str) -> subprocess.CompletedProcess[str]:
    """A pytest session of its own, with the audit loaded; its temporary files are outside this session's
    (whose own audit would otherwise find the planted number)."""
    with tempfile.TemporaryDirectory(prefix="waitline-audit-") as scratch:
        folder = Path(scratch)
        (folder / "test_session.py").write_text(test_file)
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "tests.log_audit",
                "-p",
                "no:cacheprovider",
                "-c",
                os.devnull,
                "--rootdir",
                str(folder),
                "--basetemp",
                str(folder / "tmp"),
                str(folder / "test_session.py"),
            ],
            cwd=REPOSITORY,
            env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def test_a_session_whose_server_logged_a_full_number_fails_and_names_the_line() -> None:
    leaky = run_pytest_with_the_audit(LEAKY_SESSION % (US_NUMBER, US_MASKED, UK_MASKED))
    clean = run_pytest_with_the_audit(LEAKY_SESSION % (US_MASKED, US_MASKED, UK_MASKED))

    assert "2 passed" in leaky.stdout, leaky.stdout + leaky.stderr
    assert leaky.returncode == pytest.ExitCode.TESTS_FAILED, leaky.stdout
    assert "log audit: 1 log lines hold a full phone number" in leaky.stdout
    assert re.search(r"server-0\.log:1: .*\+14155550101", leaky.stdout), leaky.stdout
    assert clean.returncode == pytest.ExitCode.OK, clean.stdout + clean.stderr


def test_a_session_whose_in_process_app_logged_a_full_number_fails() -> None:
    leaky = run_pytest_with_the_audit(LEAKY_SESSION % (US_MASKED, US_MASKED, UK_NUMBER))

    assert leaky.returncode == pytest.ExitCode.TESTS_FAILED, leaky.stdout + leaky.stderr
    assert re.search(r"Captured stderr call\):1: .*\+447911123456", leaky.stdout), leaky.stdout
