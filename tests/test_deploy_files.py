"""The files in deploy/ that no running test drives end to end: the systemd unit (systemd-analyze), the sample
environment (waitline's own settings), the Prometheus files (promtool) and the Grafana dashboard (every
metric it names is one that a real /metrics exports). nginx and PgBouncer run in tests/test_topology.py
and tests/test_pgbouncer.py with their shipped files."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import StaffRestaurant, join_body
from waitline.config import Settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNIT = DEPLOY / "systemd" / "waitline@.service"
ENV_SAMPLE = DEPLOY / "waitline.env"
PROMETHEUS = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "waitline.json"
SHIPPED_EXEC = "/opt/waitline/.venv/bin/waitline"
# systemd's exposure score, ten times (0 = locked down, 100 = unprotected): what "OK" starts below.
MOST_EXPOSURE = 20
# Series that Prometheus makes itself, not waitline.
PROMETHEUS_OWN = {"up"}


def run(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, cwd=cwd)


@pytest.fixture
def unit_instance(tmp_path: Path) -> Path:
    """The unit as instance "a", starting this checkout's waitline (systemd checks that ExecStart exists)."""
    waitline = shutil.which("waitline") or str(Path(__file__).resolve().parent.parent / ".venv/bin/waitline")
    text = UNIT.read_text()
    assert SHIPPED_EXEC in text
    instance = tmp_path / "waitline@a.service"
    instance.write_text(text.replace(SHIPPED_EXEC, waitline))
    return instance


def test_the_systemd_unit_passes_systemd_analyze_verify(unit_instance: Path) -> None:
    verified = run("systemd-analyze", "verify", str(unit_instance))

    assert verified.returncode == 0, verified.stderr
    assert verified.stderr == "", verified.stderr  # an unknown or misplaced key is only a warning


def test_the_systemd_unit_is_hardened(unit_instance: Path) -> None:
    scored = run(
        "systemd-analyze", "security", "--offline=true", f"--threshold={MOST_EXPOSURE}", str(unit_instance)
    )

    assert scored.returncode == 0, scored.stdout[-2000:]
    for setting in ("DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "KillMode=mixed"):
        assert setting in UNIT.read_text()


def test_the_sample_environment_is_valid_waitline_configuration() -> None:
    names = re.findall(r"^#? ?(WAITLINE_[A-Z_]+)=", ENV_SAMPLE.read_text(), re.MULTILINE)
    known = {f"WAITLINE_{name.upper()}" for name in Settings.model_fields}

    settings = Settings(_env_file=ENV_SAMPLE)  # type: ignore[call-arg]

    assert names and set(names) <= known, set(names) - known
    assert settings.database_pooler == "pgbouncer"
    assert settings.listen_dsn is not None and ":5432/" in settings.listen_dsn
    assert settings.shutdown_drain_seconds > 0


def test_promtool_accepts_the_alert_rules_and_the_scrape_configuration() -> None:
    rules = run("promtool", "check", "rules", "alerts.yml", cwd=PROMETHEUS)
    config = run("promtool", "check", "config", "prometheus.yml", cwd=PROMETHEUS)

    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert config.returncode == 0, config.stdout + config.stderr


def test_each_alert_fires_on_the_series_it_is_meant_for() -> None:
    tested = run("promtool", "test", "rules", "alerts.test.yml", cwd=PROMETHEUS)

    assert tested.returncode == 0, tested.stdout + tested.stderr
    rules, tests = (PROMETHEUS / "alerts.yml").read_text(), (PROMETHEUS / "alerts.test.yml").read_text()
    alerts = set(re.findall(r"^\s+- alert: (\w+)$", rules, re.MULTILINE))
    covered = set(re.findall(r"alertname: (\w+)$", tests, re.MULTILINE))
    assert alerts == covered


def metric_names(expression: str) -> set[str]:
    """The series a PromQL expression selects (label names in ``by (...)`` and ``{...}`` left out)."""
    selectors = re.sub(r"\b(by|without)\s*\([^)]*\)|\{[^}]*\}", " ", expression)
    return set(re.findall(r"\b(waitline_[a-z0-9_]+|up)\b", selectors))


def exported(exposition: str) -> set[str]:
    """Sample names in Prometheus' text format; a histogram's also under its family name's suffixes."""
    return {line.split("{")[0].split(" ")[0] for line in exposition.splitlines() if line and line[0] != "#"}


@pytest.mark.anyio
async def test_the_dashboard_and_the_alerts_name_only_metrics_the_service_exports(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    # Traffic of every kind, so that every labelled series has a sample.
    joined = await client.post(f"{restaurant.public}/queue", json=join_body(1))
    called = await client.post(f"{restaurant.admin}/queue/call-next", headers=restaurant.headers)
    await client.post(f"{restaurant.admin}/queue/{joined.json()['id']}/seat", headers=restaurant.headers)
    await client.get("/api/public/nowhere")  # a problem response
    assert called.status_code == 200
    metrics = exported((await client.get("/metrics")).text)

    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    alerts = re.findall(r"expr: ([^\n]+(?:\n {10,}[^\n]+)*)", (PROMETHEUS / "alerts.yml").read_text())
    named = set().union(*(metric_names(expression) for expression in [*expressions, *alerts]))

    assert len(expressions) >= 10 and len(alerts) == 6
    assert {"waitline_request_duration_seconds_bucket", "waitline_db_pool_size"} <= named
    assert named - PROMETHEUS_OWN - metrics == set()
