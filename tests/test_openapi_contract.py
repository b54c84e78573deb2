"""The OpenAPI document describes every response the API gives, errors included, and the API keeps to it.

The document is read for what it promises (problem+json errors on every operation, references that resolve);
then schemathesis generates valid and invalid requests for every operation against a real server on SQLite,
with a seeded restaurant and a staff token, and checks each answer against the document: no server error, a
documented status code and content type, a body and headers that match the documented schemas, and invalid
requests refused.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Server, StaffRestaurant, join_body, make_restaurant
from waitline.config import Settings
from waitline.domain import MAX_NAME_LENGTH
from waitline.store.engine import open_database

Operation = APIOperation[Any, Any, Any, Any]
GeneratedCase = Case[Operation]

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@pytest.fixture
def database_url(sqlite_database_url: str) -> str:
    """The document does not depend on the backend: SQLite only, here."""
    return sqlite_database_url


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method.upper(), operation


# --- what the document promises ---------------------------------------------------------------------------


def errors_an_operation_can_answer(path: str, operation: dict[str, Any]) -> set[str]:
    """The error statuses an operation of this shape can produce, whatever its handler does."""
    statuses = {"413"}  # the body limit stands in front of every route
    parameters = operation.get("parameters", [])
    if parameters or "requestBody" in operation:
        statuses.add("422")
    if "requestBody" in operation:
        statuses.add("400")  # a body that is not even text
    if any(parameter["in"] == "path" for parameter in parameters):
        statuses.add("404")
    if path.startswith("/api/admin/"):
        statuses |= {"401", "403"}
    if path.startswith("/api/") or path == "/readyz":
        statuses.add("503")  # the database does not answer
    return statuses


@pytest.mark.anyio
async def test_every_operation_documents_its_errors_as_problem_json(document: dict[str, Any]) -> None:
    checked = 0
    for path, method, operation in operations(document):
        responses = operation["responses"]
        missing = errors_an_operation_can_answer(path, operation) - responses.keys()
        assert not missing, f"{method} {path} does not document {sorted(missing)}"
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                content = response.get("content", {})
                assert PROBLEM_JSON in content, f"{method} {path} {status}: no {PROBLEM_JSON}"
                assert content[PROBLEM_JSON]["schema"] == {"$ref": PROBLEM_REF}, f"{method} {path} {status}"
                checked += 1
            elif status != "204":
                assert "application/json" in response.get("content", {}), f"{method} {path} {status}"
    assert checked > 0

    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}


def references(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def resolve(document: dict[str, Any], reference: str) -> object:
    assert reference.startswith("#/"), f"{reference} points outside the document"
    node: Any = document
    for part in reference[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{reference} does not resolve"
        node = node[part]
    return node


@pytest.mark.anyio
async def test_every_reference_in_the_document_resolves(document: dict[str, Any]) -> None:
    found = sorted(set(references(document)))

    for reference in found:
        resolve(document, reference)
    assert PROBLEM_REF in found


# --- what it says of the fields is what the server takes --------------------------------------------------


def schema_of(document: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][name]
    return schema


@pytest.mark.anyio
async def test_the_documented_name_length_is_the_one_the_server_takes(
    document: dict[str, Any], client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    name = schema_of(document, "JoinBody")["properties"]["name"]
    longest, too_long = "x" * name["maxLength"], "x" * (name["maxLength"] + 1)

    answers = [
        (await client.post(f"{restaurant.public}/queue", json=join_body(i, name=value))).status_code
        for i, value in enumerate(["", "x", longest, too_long])
    ]

    assert (name["minLength"], name["maxLength"]) == (1, MAX_NAME_LENGTH)
    assert answers == [422, 201, 201, 422]


@pytest.mark.anyio
async def test_a_whole_number_written_with_a_point_is_an_integer_as_the_document_says(
    document: dict[str, Any], client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    """JSON Schema's "integer" takes 20.0 (RFC 8259 has one number type); so does the server."""
    documented = [
        schema_of(document, "JoinBody")["properties"]["partySize"],
        *schema_of(document, "CallNextBody")["properties"]["maxPartySize"]["anyOf"][:1],
    ]
    joined = await client.post(f"{restaurant.public}/queue", json=join_body(0, partySize=4.0))
    call_next = f"{restaurant.admin}/queue/call-next"
    called = await client.post(call_next, json={"maxPartySize": 20.0}, headers=restaurant.headers)
    refused = [
        (await client.post(call_next, json={"maxPartySize": value}, headers=restaurant.headers)).status_code
        for value in [20.5, "20", True, 21.0, 0.0]
    ]

    assert {schema["type"] for schema in documented} == {"integer"}
    assert joined.status_code == 201
    assert joined.json()["partySize"] == 4
    assert called.status_code == 200
    assert refused == [422] * 5


# --- the API keeps to it: schemathesis against a real server ---------------------------------------------

EXAMPLES_PER_OPERATION = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# A UUID as the document means one (RFC 4122 text), not every spelling Python's uuid.UUID would take.
CANONICAL_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass
class LiveApi:
    server: Server
    slug: str
    restaurant_id: uuid.UUID
    token: str
    entry_ids: list[str]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def live_api(server_factory: Callable[..., Server], database_url: str) -> LiveApi:
    """A server on SQLite with a restaurant, its staff token, and a few entries (one of them called)."""

    async def seed() -> tuple[uuid.UUID, str]:
        database = open_database(Settings(database_url=database_url))
        try:
            staff = await make_restaurant(database)
        finally:
            await database.dispose()
        return staff.restaurant.id, staff.token

    restaurant_id, token = asyncio.run(seed())
    server = server_factory(database_url)
    api = LiveApi(server=server, slug="luigis", restaurant_id=restaurant_id, token=token, entry_ids=[])
    with httpx.Client(base_url=server.base_url) as client:
        for index in range(4):
            body = {"name": f"Guest {index}", "mobileNumber": f"+1415555{index:04d}", "partySize": 1 + index}
            joined = client.post(f"/api/public/{api.slug}/queue", json=body)
            assert joined.status_code == 201, joined.text
            api.entry_ids.append(joined.json()["id"])
        called = client.post(f"/api/admin/{restaurant_id}/queue/call-next", headers=api.headers)
        assert called.status_code == 200, called.text
    return api


def can_be_negated(operation: Operation) -> bool:
    """Whether any request to it can break the document: a body, or a parameter with some constraint."""
    if any(True for _ in operation.body):
        return True
    return any(
        {key: value for key, value in parameter.definition["schema"].items() if key != "title"}
        != {"type": "string"}
        for parameter in operation.iter_parameters()
    )


def aim_at_the_seeded_restaurant(case: GeneratedCase, api: LiveApi, pick: int) -> None:
    """Send the case to the restaurant and entries that exist, so success answers get checked too.

    Only values that already fit the document are replaced (by others that fit), so a case generated to be
    invalid stays invalid in the same way.
    """
    parameters = case.path_parameters or {}
    if "slug" in parameters:
        parameters["slug"] = api.slug
    if CANONICAL_UUID.match(str(parameters.get("restaurantId", ""))):
        parameters["restaurantId"] = str(api.restaurant_id)
    if CANONICAL_UUID.match(str(parameters.get("entry_id", ""))):
        parameters["entry_id"] = api.entry_ids[pick % len(api.entry_ids)]


# A generated mobile number fits the document yet is almost never a number that exists: draw real ones.
# (Names are left as generated: the document says what the server takes.)
real_mobile_numbers = st.integers(0, 9999).map(lambda line: f"+1415556{line:04d}")


def give_a_real_mobile_number(case: GeneratedCase, mobile: str) -> None:
    if isinstance(case.body, dict) and "mobileNumber" in case.body:
        case.body["mobileNumber"] = mobile


JOIN = "POST /api/public/{slug}/queue"


def documented_examples(document: dict[str, Any], schema: str) -> dict[str, Any]:
    """A body made of the first example the document gives for each field."""
    properties: dict[str, Any] = document["components"]["schemas"][schema]["properties"]
    return {name: field["examples"][0] for name, field in properties.items() if "examples" in field}


def run_operation(
    operation: Operation, mode: GenerationMode, api: LiveApi, seen: Counter[str], join_example: dict[str, Any]
) -> None:
    checks = [*CHECKS, negative_data_rejection] if mode is GenerationMode.NEGATIVE else CHECKS

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=operation.as_strategy(generation_mode=mode),
        seeded=st.booleans(),
        pick=st.integers(0, 99),
        mobile=real_mobile_numbers,
    )
    def exercise(case: GeneratedCase, seeded: bool, pick: int, mobile: str) -> None:
        # Every valid join goes to the seeded restaurant: only there can it succeed.
        if seeded or (operation.label == JOIN and mode is GenerationMode.POSITIVE and mobile):
            aim_at_the_seeded_restaurant(case, api, pick)
            if mode is GenerationMode.POSITIVE:
                give_a_real_mobile_number(case, mobile)
        response = case.call_and_validate(base_url=api.server.base_url, headers=api.headers, checks=checks)
        seen[f"{operation.label} {mode.value} {response.status_code}"] += 1
        if response.status_code == 201:
            api.entry_ids.append(response.json()["id"])

    if operation.label == JOIN and mode is GenerationMode.POSITIVE:
        # The document's own example, sent first: it must be a join the server takes.
        documented = operation.Case(body=join_example, path_parameters={"slug": api.slug})
        exercise = example(case=documented, seeded=False, pick=0, mobile="")(exercise)
    exercise()


def test_the_api_keeps_to_its_document_under_schemathesis(
    live_api: LiveApi, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = schemathesis.openapi.from_url(f"{live_api.server.base_url}/openapi.json")
    document = httpx.get(f"{live_api.server.base_url}/openapi.json").json()
    join_example = documented_examples(document, "JoinBody")
    assert join_example.keys() == {"name", "mobileNumber", "partySize"}
    seen: Counter[str] = Counter()
    failures: list[str] = []
    labels: list[str] = []

    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself loads without errors
        operation = result.ok()
        labels.append(operation.label)
        modes = [GenerationMode.POSITIVE]
        if can_be_negated(operation):
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            try:
                run_operation(operation, mode, live_api, seen, join_example)
            except Exception as error:  # one operation's failure must not hide another's
                failures.append(f"{operation.label} ({mode.value}):\n{error}")

    joins = sum(count for key, count in seen.items() if key.startswith(f"{JOIN} ") and key.endswith(" 201"))
    server_errors = sum(count for key, count in seen.items() if key.rsplit(" ", 1)[1].startswith("5"))
    with capsys.disabled():
        print(
            f"\nschemathesis: {sum(seen.values())} requests, {joins} successful joins (201), "
            f"{server_errors} 5xx, {len(failures)} operations with failed checks"
        )
    assert not failures, "\n\n".join(failures)
    assert joins > 0, sorted(seen.items())
    answered = {key.rsplit(" ", 2)[0] for key in seen}
    assert answered == set(labels), sorted(set(labels) - answered)
    # Success answers were checked against their schemas, not only errors.
    succeeded = {key.rsplit(" ", 2)[0] for key in seen if key.rsplit(" ", 1)[1].startswith("2")}
    for label in [
        "GET /api/public/{slug}",
        "POST /api/public/{slug}/queue",
        "GET /api/public/{slug}/queue/{entry_id}",
        "GET /api/admin/{restaurantId}/queue",
        "POST /api/admin/{restaurantId}/queue/call-next",
        "POST /api/admin/{restaurantId}/queue/pause",
        "POST /api/admin/{restaurantId}/queue/resume",
        "GET /healthz",
        "GET /readyz",
    ]:
        assert label in succeeded, (label, sorted(seen.items()))
    assert "Traceback" not in live_api.server.output()
