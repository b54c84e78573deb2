"""What a running server says about itself: its JSON log events and its Prometheus metrics."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from tests.conftest import Server


def log_events(server: Server) -> list[dict[str, Any]]:
    """The server's JSON log lines so far (lines that are not JSON objects are left out)."""
    events = []
    for line in server.output().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def count_events(server: Server, name: str) -> int:
    return sum(1 for event in log_events(server) if event.get("event") == name)


async def metric(client: httpx.AsyncClient, name: str) -> float:
    response = await client.get("/metrics")
    assert response.status_code == 200
    found = re.search(rf"^{re.escape(name)} (\S+)$", response.text, re.MULTILINE)
    assert found is not None, f"{name} not in /metrics"
    return float(found.group(1))
