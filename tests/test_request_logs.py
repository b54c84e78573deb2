"""A real server's log: JSON lines, ONE ``request`` event per request, which also carries what the request's
queue operation did (operation, outcome, entry, token), and the request id (the client's X-Request-ID when it
is sane, else a generated one).

Guests' names are never logged and their mobile numbers only masked.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import Server, StaffRestaurant, join_body
from tests.server_logs import until_logged

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

GUEST_NAME = "Zebulon Quixote-Marmalade"
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def database_url(pg_database_url: str) -> str:
    """One backend is enough: the log does not depend on it."""
    return pg_database_url


def log_events(server: Server) -> list[dict[str, Any]]:
    """Every line the server wrote, parsed as JSON (a line that is not JSON fails the test)."""
    events = []
    for line in server.output().splitlines():
        if line.strip():
            try:
                event = json.loads(line)
            except ValueError:
                raise AssertionError(f"a log line that is not JSON: {line!r}") from None
            assert isinstance(event, dict), line
            events.append(event)
    return events


def the_one(events: list[dict[str, Any]], name: str, request_id: str) -> dict[str, Any]:
    found = [
        event for event in events if event.get("event") == name and event.get("request_id") == request_id
    ]
    assert len(found) == 1, (name, request_id, found)
    return found[0]


async def test_each_request_is_one_json_event_carrying_the_request_id_and_its_queue_operation(
    server: Server, restaurant: StaffRestaurant
) -> None:
    body = join_body(23, name=GUEST_NAME, idempotencyKey="log-key")
    staff = restaurant.headers
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:

        async def send(request_id: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
            headers = {**kwargs.pop("headers", {}), "X-Request-ID": request_id}
            response = await client.request(method, url, headers=headers, **kwargs)
            assert response.headers["x-request-id"] == request_id  # echoed
            return response

        joined = await send("req-join", "POST", f"{restaurant.public}/queue", json=body)
        replayed = await send("req-replay", "POST", f"{restaurant.public}/queue", json=body)
        entry_id = joined.json()["id"]
        looked_up = await send("req-entry", "GET", f"{restaurant.public}/queue/{entry_id}")
        called = await send("req-call", "POST", f"{restaurant.admin}/queue/call-next", headers=staff)
        empty = await send("req-empty", "POST", f"{restaurant.admin}/queue/call-next", headers=staff)
        seated = await send("req-seat", "POST", f"{restaurant.admin}/queue/{entry_id}/seat", headers=staff)
        missing = await send("req-missing", "GET", f"{restaurant.public}/queue/{uuid.uuid4()}")

    statuses = [r.status_code for r in (joined, replayed, looked_up, called, empty, seated, missing)]
    assert statuses == [201, 200, 200, 200, 204, 200, 404]
    ours = {"req-join", "req-replay", "req-entry", "req-call", "req-empty", "req-seat", "req-missing"}
    await until_logged(server, ours)
    events = log_events(server)  # every line, and each must be JSON

    # One request event per request, with where it went, what it got, and how long it took.
    requests = {event["request_id"]: event for event in events if event["event"] == "request"}
    assert len([e for e in events if e["event"] == "request" and e["request_id"] in ours]) == len(ours)
    public, admin = "/api/public/{slug}", "/api/admin/{restaurantId}"
    staff_of = str(restaurant.restaurant.id)
    expected = {
        "req-join": ("POST", f"{public}/queue", 201, "luigis"),
        "req-replay": ("POST", f"{public}/queue", 200, "luigis"),
        "req-entry": ("GET", f"{public}/queue/{{entry_id}}", 200, "luigis"),
        "req-call": ("POST", f"{admin}/queue/call-next", 200, staff_of),
        "req-empty": ("POST", f"{admin}/queue/call-next", 204, staff_of),
        "req-seat": ("POST", f"{admin}/queue/{{entry_id}}/seat", 200, staff_of),
        "req-missing": ("GET", f"{public}/queue/{{entry_id}}", 404, "luigis"),
    }
    for request_id, (method, route, status, where) in expected.items():
        event = requests[request_id]
        logged = (event["method"], event["route"], event["status"], event["restaurant"])
        assert logged == (method, route, status, where), event
        assert isinstance(event["duration_ms"], int | float) and event["duration_ms"] >= 0
        assert event["client"] == "127.0.0.1"
        assert event["level"] == "info" and event["timestamp"]
    assert requests["req-entry"]["entry_id"] == entry_id

    # The queue operation's outcome is in its request's event, not in an event of its own.
    join = requests["req-join"]
    assert (join["operation"], join["entry_id"], join["token"], join["outcome"]) == (
        "join",
        entry_id,
        1,
        "created",
    )
    assert join["mobile"] == "+1415*****23"
    assert join["entry_status"] == "waiting"
    replay = requests["req-replay"]
    assert (replay["operation"], replay["entry_id"], replay["token"], replay["outcome"]) == (
        "join",
        entry_id,
        1,
        "replayed",
    )
    call = requests["req-call"]
    assert (call["operation"], call["entry_id"], call["token"], call["outcome"]) == (
        "call_next",
        entry_id,
        1,
        "called",
    )
    empty = requests["req-empty"]
    assert (empty["operation"], empty["outcome"]) == ("call_next", "empty")
    seat = requests["req-seat"]
    assert (seat["operation"], seat["entry_id"], seat["token"], seat["entry_status"]) == (
        "seat",
        entry_id,
        1,
        "seated",
    )
    assert "operation" not in requests["req-entry"] and "operation" not in requests["req-missing"]
    ours_queue_events = [
        e for e in events if str(e["event"]).startswith("queue.") and e.get("request_id") in ours
    ]
    assert ours_queue_events == []

    # The guest's name is nowhere, nor the full number.
    output = server.output()
    assert "Zebulon" not in output and "Marmalade" not in output
    assert str(body["mobileNumber"]) not in output


MALFORMED_REQUEST_IDS = ["has spaces in it", "x" * 129, "semi;colon", "ünïcode", ""]


async def test_a_malformed_request_id_is_replaced_by_a_generated_one(
    server: Server, restaurant: StaffRestaurant
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        responses = [
            await client.get(restaurant.public, headers={b"X-Request-ID": offered.encode("utf-8")})
            for offered in MALFORMED_REQUEST_IDS
        ]
        unnamed = await client.get(restaurant.public)

    generated = [response.headers["x-request-id"] for response in [*responses, unnamed]]
    assert [response.status_code for response in [*responses, unnamed]] == [200] * len(generated)
    assert all(GENERATED_ID.fullmatch(request_id) for request_id in generated), generated
    assert len(set(generated)) == len(generated)
    await until_logged(server, set(generated))
    events = log_events(server)  # every line, and each must be JSON
    for request_id in generated:
        assert the_one(events, "request", request_id)["route"] == "/api/public/{slug}"
    logged_ids = {event.get("request_id") for event in events}
    assert not logged_ids & set(MALFORMED_REQUEST_IDS)
