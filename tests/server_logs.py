"""What a running server says about itself: its JSON log events and its Prometheus metrics."""

from __future__ import annotations

import asyncio
import json
import re
import time
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


# How long a test waits for a log line (a wait, not a measurement).
LOG_WAIT_SECONDS = 10.0


async def until_logged(server: Server, request_ids: set[str]) -> list[dict[str, Any]]:
    """The log once it has a ``request`` event for each id. The event is written after the response has
    gone out, so a client can hold its answer before the line is in the file: read until it is."""
    deadline = time.monotonic() + LOG_WAIT_SECONDS
    while True:
        events = log_events(server)
        logged = {event.get("request_id") for event in events if event.get("event") == "request"}
        if request_ids <= logged:
            return events
        assert time.monotonic() < deadline, f"no request event for {request_ids - logged}"
        await asyncio.sleep(0.05)


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
