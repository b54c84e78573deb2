"""Prometheus ``/metrics``: what happened to joins, call-next and transitions (counted from what the services
did, for the API and the pages alike), the events recorded, errors by status, latency per route template,
the pool; and with several uvicorn workers, the sum over all of them whichever one answers.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Server, StaffRestaurant, join_body, start_server, stop_server
from tests.web_helpers import create_staff, csrf_token, form_post, sign_in
from waitline.config import Settings
from waitline.store.engine import Database

pytestmark = pytest.mark.anyio

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

JOIN_ROUTE = "/api/public/{slug}/queue"
WORKERS = 2
JOINS_PER_ROUND = 10
MAX_ROUNDS = 20


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Three joins a minute per address, so that the fourth is rate limited; a pool of 3 + 2."""
    return Settings(
        database_url=database_url,
        rate_limit_per_ip="3/minute",
        rate_limit_per_mobile="off",
        pool_size=3,
        pool_max_overflow=2,
    )


def parse(metrics_text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): float(sample.value)
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def test_metrics_count_queue_outcomes_errors_and_latency_by_route_template(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    staff = restaurant.headers
    answered: list[httpx.Response] = []

    async def call(method: str, url: str, **kwargs: object) -> httpx.Response:
        response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
        answered.append(response)
        return response

    joins = [
        await call("POST", f"{restaurant.public}/queue", json=join_body(1, idempotencyKey="k1")),
        await call("POST", f"{restaurant.public}/queue", json=join_body(1, idempotencyKey="k1")),
        await call("POST", f"{restaurant.public}/queue", json=join_body(9, mobileNumber="+1 555")),
        await call("POST", f"{restaurant.public}/queue", json=join_body(1, idempotencyKey="k1-again")),
        await call("POST", f"{restaurant.public}/queue", json=join_body(2)),
        await call("POST", f"{restaurant.public}/queue", json=join_body(3)),
        await call("POST", f"{restaurant.public}/queue", json=join_body(4)),
    ]
    assert [response.status_code for response in joins] == [201, 200, 422, 409, 201, 201, 429]
    calls = [await call("POST", f"{restaurant.admin}/queue/call-next", headers=staff) for _ in range(4)]
    assert [response.status_code for response in calls] == [200, 200, 200, 204]
    first, second, third = (response.json()["id"] for response in calls[:3])
    transitions = [
        await call("POST", f"{restaurant.admin}/queue/{first}/seat", headers=staff),
        await call("POST", f"{restaurant.admin}/queue/{first}/seat", headers=staff),
        await call("POST", f"{restaurant.admin}/queue/{uuid.uuid4()}/seat", headers=staff),
        await call("POST", f"{restaurant.admin}/queue/{second}/no-show", headers=staff),
        await call("POST", f"{restaurant.admin}/queue/{third}/cancel", headers=staff),
        await call("DELETE", f"{restaurant.public}/queue/{third}"),
    ]
    assert [response.status_code for response in transitions] == [200, 409, 404, 200, 200, 409]
    entry_url = f"{restaurant.public}/queue/{first}"
    assert (await call("GET", entry_url)).status_code == 200
    assert (await call("GET", "/no/such/path")).status_code == 404

    samples = await scrape(client)

    assert {
        outcome: value(samples, "waitline_joins_total", outcome=outcome)
        for outcome in ("created", "replayed", "rejected", "rate_limited")
    } == {"created": 3, "replayed": 1, "rejected": 2, "rate_limited": 1}
    assert value(samples, "waitline_call_next_total", outcome="called") == 3
    assert value(samples, "waitline_call_next_total", outcome="empty") == 1
    assert {
        dict(labels)["type"]: count
        for (name, labels), count in samples.items()
        if name == "waitline_events_total"
    } == {"joined": 3, "called": 3, "seated": 1, "no_show": 1, "cancelled": 1}
    assert {
        (dict(labels)["action"], dict(labels)["outcome"]): count
        for (name, labels), count in samples.items()
        if name == "waitline_transitions_total"
    } == {
        ("seat", "done"): 1,
        ("seat", "conflict"): 1,
        ("seat", "not_found"): 1,
        ("no-show", "done"): 1,
        ("cancel", "done"): 1,
        ("leave", "conflict"): 1,
    }
    errors = Counter(str(response.status_code) for response in answered if response.status_code >= 400)
    assert errors == Counter({"409": 3, "404": 2, "422": 1, "429": 1})
    assert {
        dict(labels)["status"]: count
        for (name, labels), count in samples.items()
        if name == "waitline_errors_total"
    } == errors

    # Latency per route template: the path's slug and ids never become labels.
    count = "waitline_request_duration_seconds_count"
    assert value(samples, count, route=JOIN_ROUTE, method="POST", status="201") == 3
    assert value(samples, count, route="/api/public/{slug}/queue/{entry_id}", method="GET", status="200") == 1
    assert value(samples, count, route="unmatched", method="GET", status="404") == 1
    routes = {dict(labels)["route"] for (name, labels) in samples if name == count}
    assert JOIN_ROUTE in routes
    assert not [route for route in routes if "luigis" in route or re.search(r"[0-9a-f]{8}-", route)]
    assert (
        value(
            samples,
            "waitline_request_duration_seconds_bucket",
            route=JOIN_ROUTE,
            method="POST",
            status="201",
            le="+Inf",
        )
        == 3
    )

    # The pool: its capacity (3 + 2) and nothing checked out between requests.
    assert value(samples, "waitline_db_pool_size") == 5
    assert ("waitline_db_pool_connections_in_use", frozenset()) in samples
    assert value(samples, "waitline_db_pool_connections_in_use") == 0
    assert ("waitline_rate_limiter_fallback_active", frozenset()) in samples


# --- several workers ----------------------------------------------------------------------------------------


def start_workers(database_url: str, log: Path, scratch: Path) -> Server:
    """``waitline serve --workers 2``. TMPDIR points into the test's folder, so that the metrics folder
    serve makes is found (and cleared)."""
    return start_server(database_url, log, workers=WORKERS, TMPDIR=str(scratch))


@pytest.fixture
def workers_server(pg_database_url: str, tmp_path: Path) -> Iterator[Server]:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    server = start_workers(pg_database_url, tmp_path / "server-workers.log", scratch)
    yield server
    stop_server(server)


def workers_that_counted(scratch: Path) -> set[str]:
    """The pids of the workers that have counted something (each writes its counters to its own file)."""
    return {path.stem.rpartition("_")[2] for path in scratch.glob("waitline-metrics-*/counter_*.db")}


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # several processes: PostgreSQL
async def test_with_two_workers_any_worker_reports_the_sum_over_both(
    workers_server: Server, restaurant: StaffRestaurant, tmp_path: Path
) -> None:
    scratch = tmp_path / "tmp"
    # A fresh connection per request, so that the kernel hands requests to both workers.
    fresh = httpx.Limits(max_keepalive_connections=0)
    joined = 0
    async with httpx.AsyncClient(base_url=workers_server.base_url, limits=fresh, timeout=30) as client:
        for _ in range(MAX_ROUNDS):
            responses = await asyncio.gather(
                *(
                    client.post(f"{restaurant.public}/queue", json=join_body(joined + i))
                    for i in range(JOINS_PER_ROUND)
                )
            )
            assert [response.status_code for response in responses] == [201] * JOINS_PER_ROUND
            joined += JOINS_PER_ROUND
            if joined >= 20 and len(workers_that_counted(scratch)) == WORKERS:
                break
        counted = workers_that_counted(scratch)
        assert len(counted) == WORKERS, (
            f"after {joined} joins, only the workers {counted} wrote to the multiprocess metrics folder "
            f"{sorted(scratch.glob('*'))}"
        )

        # Each worker counted only some of the joins; every scrape, whichever worker answers, has them all.
        scrapes = [await scrape(client) for _ in range(6)]

    for samples in scrapes:
        assert value(samples, "waitline_joins_total", outcome="created") == joined
        count = value(
            samples, "waitline_request_duration_seconds_count", route=JOIN_ROUTE, method="POST", status="201"
        )
        assert count == joined
        assert value(samples, "waitline_db_pool_size") == 20 * WORKERS  # default: 40 shared by 2 workers


async def test_the_pages_are_counted_as_the_api_is_and_an_empty_call_next_as_empty(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database
) -> None:
    """A join from the join page and a dashboard "Call next" on an empty queue are counted by what the
    queue did, not by their routes (which answer 303 or 200 whatever happened)."""
    guest = {"name": "Ada", "mobile": "07400 123456", "party_size": "2", "idempotency_key": "page-join"}
    joined = await form_post(client, "/luigis", "/luigis/join", guest)
    await sign_in(client, await create_staff(database, "luigis"))

    async def press_call_next() -> httpx.Response:
        page = await client.get("/staff/luigis")
        seen = re.search(r'name="seen_last_call" value="([^"]*)"', page.text)
        assert seen
        form = {"csrf_token": csrf_token(page.text), "seen_last_call": seen.group(1)}
        return await client.post("/staff/luigis/call-next", data=form, headers={"HX-Request": "true"})

    called, empty = await press_call_next(), await press_call_next()

    assert joined.status_code == 303
    assert "Called #1 <bdi>Ada</bdi>" in called.text and "Nobody is waiting." in empty.text
    samples = await scrape(client)
    assert value(samples, "waitline_joins_total", outcome="created") == 1
    assert value(samples, "waitline_call_next_total", outcome="called") == 1
    assert value(samples, "waitline_call_next_total", outcome="empty") == 1
    assert value(samples, "waitline_events_total", type="joined") == 1
    assert value(samples, "waitline_events_total", type="called") == 1
