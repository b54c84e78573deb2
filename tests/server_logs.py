"""What a running server says about itself: its JSON log events and its Prometheus metrics."""

from __future__ import annotations

import json
import re
from typing import Any

import anyio
import httpx

from tests.conftest import Server

LOG_PATIENCE_SECONDS = 10


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


async def logged_requests(servers: list[Server], route: str, *, at_least: int = 1) -> list[dict[str, Any]]:
    """The ``request`` log events of ``route`` in the servers' logs, once there are ``at_least`` of them (a
    request's line is written just after its answer; this waits for it, within a bound)."""
    with anyio.fail_after(LOG_PATIENCE_SECONDS):
        while True:
            found = [
                event
                for server in servers
                for event in log_events(server)
                if event.get("event") == "request" and event.get("route") == route
            ]
            if len(found) >= at_least:
                return found
            await anyio.sleep(0.05)
