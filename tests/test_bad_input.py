"""Bad input gets a clear 4xx in RFC 9457 problem+json and changes nothing: never a 5xx, never a stack trace.

The join is attacked with generated bodies, each wrong in one way and otherwise a valid join. After every
refusal the queue must be as it was: no entry (the staff list with ``?status=all`` is empty) and the token
counter untouched (the next valid join gets token 1). The test then puts the queue back for the next example.
"""

from __future__ import annotations

import json
import string
import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.conftest import StaffRestaurant, join_body
from waitline.config import Settings
from waitline.domain import MAX_IDEMPOTENCY_KEY_LENGTH, MAX_NAME_LENGTH, MAX_PARTY_SIZE, UnstorableInput
from waitline.store.engine import Database, open_database

pytestmark = pytest.mark.anyio

PROBLEM_JSON = "application/problem+json"
PROBLEM_FIELDS = {"type", "title", "status", "detail"}

# Hypothesis shares the function-scoped fixtures (client, restaurant, database) between examples; each example
# resets what it changed, so that is safe.
fuzz = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

VALID = {"name": "Ada Lovelace", "mobileNumber": "+14155550101", "partySize": 2}


# --- what a refusal looks like, and what it must leave behind -----------------------------------------------


def assert_problem(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """A 4xx problem+json with type, title, status and detail, and no trace of a stack."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    if status is not None:
        assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    problem: dict[str, Any] = response.json()
    assert isinstance(problem, dict)
    assert problem.keys() >= PROBLEM_FIELDS, problem
    assert problem["status"] == response.status_code
    assert isinstance(problem["type"], str)
    assert problem["type"] == "about:blank" or problem["type"].startswith("urn:waitline:problem:")
    assert isinstance(problem["title"], str) and problem["title"]
    assert isinstance(problem["detail"], str) and problem["detail"]
    return problem


def error_fields(problem: dict[str, Any]) -> list[str]:
    return [error["field"] for error in problem["errors"]]


async def assert_queue_untouched(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database
) -> None:
    """Nothing happened to the (empty) queue: no entry, no token taken, no event in the log."""
    listed = await client.get(
        f"{restaurant.admin}/queue", params={"status": "all"}, headers=restaurant.headers
    )
    assert listed.status_code == 200, listed.text
    assert listed.json()["entries"] == []
    logged = await client.get(f"{restaurant.admin}/events", headers=restaurant.headers)
    assert logged.json() == {"events": [], "lastSeq": 0}
    params = {"restaurant_id": str(restaurant.restaurant.id)}
    async with database.snapshot() as connection:
        counter = await connection.execute(
            text("SELECT last_token, last_seq FROM token_sequence WHERE restaurant_id = :restaurant_id"),
            params,
        )
        assert tuple(counter.one()) == (0, 0)


@dataclass(frozen=True)
class BadJoin:
    """Raw bytes and headers for POST /queue."""

    content: bytes
    headers: dict[str, str | bytes] = field(default_factory=lambda: {"Content-Type": "application/json"})


def as_json(body: object, **headers: str | bytes) -> BadJoin:
    # Serialised here, not by httpx: NaN, Infinity and lone surrogates must reach the server as they are.
    return BadJoin(json.dumps(body).encode(), {"Content-Type": "application/json", **headers})


async def post_bad_join(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database, bad: BadJoin
) -> dict[str, Any]:
    # As bytes: a header value may be non-ASCII (UTF-8), as some clients send it.
    headers = [
        (name.encode(), value if isinstance(value, bytes) else value.encode())
        for name, value in bad.headers.items()
    ]
    response = await client.post(f"{restaurant.public}/queue", content=bad.content, headers=headers)
    problem = assert_problem(response)
    await assert_queue_untouched(client, restaurant, database)
    return problem


# --- strategies: each makes one thing wrong and keeps the rest valid ----------------------------------------

json_numbers = st.integers() | st.floats(allow_nan=True, allow_infinity=True)
json_containers = st.lists(st.integers() | st.text(max_size=5), max_size=3) | st.dictionaries(
    st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3
)
# Not a string: what a text field (name, mobileNumber) must refuse.
not_a_string = st.none() | st.booleans() | json_numbers | json_containers
# Not an integer as JSON Schema has it (4 and 4.0 are one number there): "4", 4.5 and true are refused.
fractions = st.floats(allow_nan=True, allow_infinity=True).filter(lambda number: not number.is_integer())
not_an_int = st.none() | st.booleans() | fractions | st.text() | json_containers


@st.composite
def wrong_types(draw: st.DrawFn) -> dict[str, object]:
    field_name, values = draw(
        st.sampled_from(
            [
                ("name", not_a_string),
                ("mobileNumber", not_a_string),
                ("partySize", not_an_int),
                # null is a valid idempotency key (none given); every other non-string is not.
                ("idempotencyKey", st.booleans() | json_numbers | json_containers),
            ]
        )
    )
    return {**VALID, field_name: draw(values)}


WHITESPACE = [chr(code) for code in range(0x3001) if chr(code).isspace()]
# Control characters Python does not count as white space (those would be folded into a space), and
# invisible format characters such as ZERO WIDTH SPACE and the BOM.
INVISIBLE = [
    chr(code)
    for code in range(0x10000)
    if unicodedata.category(chr(code)) in {"Cc", "Cf"} and not chr(code).isspace()
]
VISIBLE = string.ascii_letters + string.digits + "éøßçñÅ日本語"


def visible_text(min_size: int = 1, max_size: int = 10) -> st.SearchStrategy[str]:
    return st.text(alphabet=VISIBLE, min_size=min_size, max_size=max_size)


bad_names = st.one_of(
    st.just(""),
    st.lists(st.sampled_from(WHITESPACE), min_size=1, max_size=12).map("".join),
    # Over the limit even once trimmed and folded; past 4x the limit the raw string is refused unread.
    visible_text(MAX_NAME_LENGTH + 1, 5 * MAX_NAME_LENGTH),
    st.tuples(visible_text(0), st.sampled_from(INVISIBLE), visible_text(0)).map("".join),
)

# Nothing a phone number parser can read: no digit of any script and no plus sign.
no_digits = st.text(alphabet=string.ascii_letters + " -().", min_size=3, max_size=40)
invalid_mobiles = st.one_of(
    st.text(max_size=2),  # too short
    st.text(min_size=41, max_size=60),  # too long
    no_digits,
    # Country codes that do not exist.
    st.tuples(st.sampled_from(["+999", "+0", "+000"]), st.text(string.digits, min_size=4, max_size=12)).map(
        "".join
    ),
    # Far too few digits for the country (and for GB, the restaurant's region, when written nationally).
    st.tuples(st.sampled_from(["+1", "+44", "+33", ""]), st.text(string.digits, min_size=3, max_size=4)).map(
        "".join
    ),
)

PRINTABLE_ASCII = "".join(chr(code) for code in range(0x21, 0x7F))
bad_idempotency_keys = st.one_of(
    st.just(""),
    st.text(
        PRINTABLE_ASCII, min_size=MAX_IDEMPOTENCY_KEY_LENGTH + 1, max_size=MAX_IDEMPOTENCY_KEY_LENGTH + 40
    ),
    st.tuples(st.text(PRINTABLE_ASCII, min_size=1, max_size=20), st.text(PRINTABLE_ASCII, min_size=1)).map(
        " ".join
    ),
    st.tuples(
        st.text(PRINTABLE_ASCII, max_size=20),
        st.characters(min_codepoint=0x80, exclude_categories=["Cs"]),
        st.text(PRINTABLE_ASCII, max_size=20),
    ).map("".join),
)

bad_party_sizes = st.one_of(
    st.integers(max_value=0),
    st.integers(min_value=MAX_PARTY_SIZE + 1),
    not_an_int,
)

non_objects = st.recursive(
    st.none() | st.booleans() | json_numbers | st.text(),
    lambda children: st.lists(children, max_size=3),
    max_leaves=5,
)


def _not_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both are
        return True
    return False


valid_json = json.dumps(VALID).encode()
invalid_json = st.one_of(
    st.binary(min_size=1, max_size=64).filter(_not_json),
    st.integers(min_value=1, max_value=len(valid_json) - 1).map(lambda cut: valid_json[:cut]),
    st.sampled_from(
        [b"{", b"{'name': 'Ada'}", b'{"name": "Ada",}', b"\xff\xfe\x00", b"\x87x\xcd", b"nul", b"{}}"]
    ),
)
# Anything but JSON: FastAPI reads application/json and */*+json bodies as JSON, so none of those here.
not_json_media_types = st.sampled_from(
    [
        "text/plain",
        "text/html; charset=utf-8",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/octet-stream",
        "application/jsonx",
    ]
)


# --- the join body ----------------------------------------------------------------------------------------


@fuzz
@given(body=wrong_types())
@example(body={**VALID, "partySize": True})
@example(body={**VALID, "partySize": "4"})
@example(body={**VALID, "partySize": 1.5})
@example(body={**VALID, "partySize": None})
@example(body={**VALID, "name": ["Ada"]})
@example(body={**VALID, "mobileNumber": {"number": "+14155550101"}})
@example(body={**VALID, "idempotencyKey": 12345})
async def test_a_field_of_the_wrong_type_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database, body: dict[str, object]
) -> None:
    problem = await post_bad_join(client, restaurant, database, as_json(body))
    assert problem["type"] == "urn:waitline:problem:validation-failed"


@fuzz
@given(missing=st.sets(st.sampled_from(sorted(VALID)), min_size=1))
async def test_a_missing_field_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database, missing: set[str]
) -> None:
    body = {name: value for name, value in VALID.items() if name not in missing}

    problem = await post_bad_join(client, restaurant, database, as_json(body))

    assert problem["type"] == "urn:waitline:problem:validation-failed"
    assert set(error_fields(problem)) == missing


@fuzz
@given(name=bad_names)
@example(name="")
@example(name=" \t\u3000 ")
@example(name="A" * (MAX_NAME_LENGTH + 1))
@example(name="Ada\x00")
@example(name="Ada\u200bLovelace")
@example(name="\ufeffAda")
@example(name="Ada\ud800")
async def test_a_bad_name_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database, name: str
) -> None:
    problem = await post_bad_join(client, restaurant, database, as_json({**VALID, "name": name}))
    assert error_fields(problem) == ["name"]


@fuzz
@given(party_size=bad_party_sizes)
@example(party_size=0)
@example(party_size=MAX_PARTY_SIZE + 1)
@example(party_size=-1)
@example(party_size=1.5)
@example(party_size="4")
@example(party_size=True)
@example(party_size=21.0)
async def test_a_bad_party_size_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database, party_size: object
) -> None:
    problem = await post_bad_join(client, restaurant, database, as_json({**VALID, "partySize": party_size}))
    assert error_fields(problem) == ["partySize"]


@fuzz
@given(mobile=invalid_mobiles)
@example(mobile="12")
@example(mobile="not a number")
@example(mobile="+999 123456789")
@example(mobile="+44 12")
@example(mobile="+1" + "9" * 39)
async def test_an_invalid_mobile_number_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database, mobile: str
) -> None:
    problem = await post_bad_join(client, restaurant, database, as_json({**VALID, "mobileNumber": mobile}))
    assert problem["type"] in {
        "urn:waitline:problem:validation-failed",
        "urn:waitline:problem:invalid-mobile-number",
    }


@fuzz
@given(key=bad_idempotency_keys, in_header=st.booleans())
@example(key="k" * (MAX_IDEMPOTENCY_KEY_LENGTH + 1), in_header=False)
@example(key="k" * (MAX_IDEMPOTENCY_KEY_LENGTH + 1), in_header=True)
@example(key="two words", in_header=False)
@example(key="two words", in_header=True)
@example(key="clé", in_header=False)
@example(key="clé", in_header=True)
@example(key="", in_header=True)
async def test_a_bad_idempotency_key_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database, key: str, in_header: bool
) -> None:
    # A header carries bytes: a non-ASCII key goes as UTF-8, as a client would send it.
    bad = (
        as_json(VALID, **{"Idempotency-Key": key.encode()})
        if in_header
        else as_json({**VALID, "idempotencyKey": key})
    )
    problem = await post_bad_join(client, restaurant, database, bad)
    expected = "header.Idempotency-Key" if in_header else "idempotencyKey"
    assert error_fields(problem) == [expected]


async def test_an_idempotency_key_header_that_contradicts_the_body_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database
) -> None:
    bad = as_json({**VALID, "idempotencyKey": "key-in-body"}, **{"Idempotency-Key": "key-in-header"})
    problem = await post_bad_join(client, restaurant, database, bad)
    assert problem["type"] == "urn:waitline:problem:validation-failed"


@fuzz
@given(body=non_objects)
@example(body=None)
@example(body=[VALID])
@example(body="Ada")
async def test_json_that_is_not_an_object_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database, body: object
) -> None:
    await post_bad_join(client, restaurant, database, as_json(body))


@fuzz
@given(raw=invalid_json)
@example(raw=b"")
async def test_bytes_that_are_not_json_are_refused_and_change_nothing(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database, raw: bytes
) -> None:
    problem = await post_bad_join(client, restaurant, database, BadJoin(raw))
    # Not UTF-8 at all is a 400; JSON that does not parse is a validation failure that names the body.
    if problem["status"] == 422:
        assert error_fields(problem) == ["body"]
    else:
        assert problem["status"] == 400


@fuzz
@given(media_type=not_json_media_types | st.none())
async def test_a_valid_body_under_another_content_type_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database, media_type: str | None
) -> None:
    headers: dict[str, str | bytes] = {} if media_type is None else {"Content-Type": media_type}
    problem = await post_bad_join(client, restaurant, database, BadJoin(valid_json, headers))
    assert problem["status"] == 422


# --- a refused request stores nothing, so its key is still free -------------------------------------------

REFUSALS: dict[str, dict[str, object]] = {
    "party too large": {"partySize": MAX_PARTY_SIZE + 1},
    "invalid mobile": {"mobileNumber": "+44 12"},
    "invisible character in the name": {"name": "Ada\u200b"},
    "name missing": {"name": None},
}


async def test_a_corrected_retry_with_the_same_idempotency_key_succeeds(
    client: httpx.AsyncClient, restaurant: StaffRestaurant, database: Database
) -> None:
    expected_token = 0
    for mistake, change in REFUSALS.items():
        for key_in in ("body", "header"):
            key = f"retry-{uuid.uuid4()}"
            body, headers = (
                ({"idempotencyKey": key}, {}) if key_in == "body" else ({}, {"Idempotency-Key": key})
            )
            wrong = {name: value for name, value in {**VALID, **body, **change}.items() if value is not None}

            refused = await client.post(f"{restaurant.public}/queue", json=wrong, headers=headers)
            assert_problem(refused, 422)

            corrected = await client.post(
                f"{restaurant.public}/queue", json={**VALID, **body}, headers=headers
            )
            assert corrected.status_code == 201, (mistake, key_in, corrected.text)
            expected_token += 1
            assert corrected.json()["tokenNumber"] == expected_token, (mistake, key_in)
            assert "Idempotent-Replayed" not in corrected.headers
            # The guest leaves, so that the same number may join again with the next mistake.
            left = await client.delete(f"{restaurant.public}/queue/{corrected.json()['id']}")
            assert left.status_code == 200


async def test_a_join_refused_while_the_queue_is_paused_leaves_its_key_free(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    body = {**VALID, "idempotencyKey": "paused-then-open"}
    paused = await client.post(f"{restaurant.admin}/queue/pause", headers=restaurant.headers)
    assert paused.status_code == 200

    assert_problem(await client.post(f"{restaurant.public}/queue", json=body), 409)

    resumed = await client.post(f"{restaurant.admin}/queue/resume", headers=restaurant.headers)
    assert resumed.status_code == 200
    retried = await client.post(f"{restaurant.public}/queue", json=body)
    assert retried.status_code == 201, retried.text
    assert retried.json()["tokenNumber"] == 1


# --- paths, methods and query strings ---------------------------------------------------------------------

NOT_UUIDS = [
    "not-a-uuid",
    "123",
    "00000000-0000-0000-0000-00000000000",  # one digit short
    "00000000-0000-0000-0000-0000000000000",  # one digit long
    "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
    "%00",
    "{00000000-0000-0000-0000-000000000000",
]


async def statuses_of_all_entries(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> list[str]:
    listed = await client.get(
        f"{restaurant.admin}/queue", params={"status": "all"}, headers=restaurant.headers
    )
    assert listed.status_code == 200, listed.text
    return [entry["status"] for entry in listed.json()["entries"]]


async def test_an_entry_id_that_is_not_a_uuid_is_refused(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    await client.post(f"{restaurant.public}/queue", json=VALID)
    for entry_id in NOT_UUIDS:
        requests = [
            client.build_request("GET", f"{restaurant.public}/queue/{entry_id}"),
            client.build_request("DELETE", f"{restaurant.public}/queue/{entry_id}"),
            *(
                client.build_request(
                    "POST", f"{restaurant.admin}/queue/{entry_id}/{action}", headers=restaurant.headers
                )
                for action in ("seat", "no-show", "cancel")
            ),
        ]
        for request in requests:
            problem = assert_problem(await client.send(request), 422)
            assert error_fields(problem) == ["path.entry_id"], (request.method, request.url)

    assert await statuses_of_all_entries(client, restaurant) == ["waiting"]


async def test_a_restaurant_id_that_is_not_a_uuid_is_refused(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    for restaurant_id in NOT_UUIDS:
        for method, path in [
            ("GET", "queue"),
            ("POST", "queue/call-next"),
            ("POST", "queue/pause"),
            ("POST", f"queue/{uuid.uuid4()}/seat"),
        ]:
            url = f"/api/admin/{restaurant_id}/{path}"
            problem = assert_problem(await client.request(method, url, headers=restaurant.headers), 422)
            assert error_fields(problem) == ["path.restaurantId"], (method, url)

    assert (await client.get(restaurant.public)).json()["open"] is True


async def test_an_unknown_slug_is_404(client: httpx.AsyncClient, restaurant: StaffRestaurant) -> None:
    for response in [
        await client.get("/api/public/no-such-place"),
        await client.post("/api/public/no-such-place/queue", json=VALID),
        await client.get(f"/api/public/no-such-place/queue/{uuid.uuid4()}"),
        await client.delete(f"/api/public/no-such-place/queue/{uuid.uuid4()}"),
    ]:
        assert_problem(response, 404)
    # The join at the wrong address took nothing from the right one.
    joined = await client.post(f"{restaurant.public}/queue", json=VALID)
    assert joined.json()["tokenNumber"] == 1


async def test_an_unknown_route_is_404_problem_json(client: httpx.AsyncClient) -> None:
    for path in ["/", "/api/public/luigis/queue/extra/parts", "/api/admin/x/y/z/w"]:
        problem = assert_problem(await client.get(path), 404)
        assert problem["type"] == "about:blank"
    # One segment is a guest page's address (/{slug}): to a client that asks for JSON, its 404 is
    # problem+json naming what is missing (a browser gets the 404 page).
    for path in ["/api", "/nope"]:
        problem = assert_problem(await client.get(path, headers={"Accept": "application/json"}), 404)
        assert problem["type"] == "urn:waitline:problem:restaurant-not-found"


async def test_a_wrong_method_is_405_problem_json_naming_the_allowed_ones(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    entry = uuid.uuid4()
    for method, url, allowed in [
        ("PUT", f"{restaurant.public}/queue", {"POST"}),
        ("GET", f"{restaurant.public}/queue", {"POST"}),
        ("PATCH", f"{restaurant.public}/queue/{entry}", {"GET", "DELETE"}),
        ("POST", f"{restaurant.public}/queue/{entry}", {"GET", "DELETE"}),
        ("DELETE", f"{restaurant.admin}/queue", {"GET"}),
        ("GET", f"{restaurant.admin}/queue/call-next", {"POST"}),
        ("POST", "/healthz", {"GET"}),
    ]:
        response = await client.request(method, url, headers=restaurant.headers, json=VALID)

        assert_problem(response, 405)
        assert {name.strip() for name in response.headers["allow"].split(",")} == allowed, (method, url)

    assert await statuses_of_all_entries(client, restaurant) == []


async def test_call_next_refuses_a_bad_body_and_calls_nobody(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    await client.post(f"{restaurant.public}/queue", json=VALID)
    url = f"{restaurant.admin}/queue/call-next"

    for max_party_size in [0, MAX_PARTY_SIZE + 1, -1, 1.5, "4", True, [4], {"n": 4}]:
        response = await client.post(url, json={"maxPartySize": max_party_size}, headers=restaurant.headers)
        problem = assert_problem(response, 422)
        assert error_fields(problem) == ["maxPartySize"], max_party_size
    for raw in [b"[1]", b"4", b'"x"', b"{", b"\x87x\xcd"]:
        headers = {**restaurant.headers, "Content-Type": "application/json"}
        assert_problem(await client.post(url, content=raw, headers=headers))

    assert await statuses_of_all_entries(client, restaurant) == ["waiting"]


async def test_the_staff_list_refuses_a_bad_status_filter_or_limit(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    for name, value in [
        ("status", "bogus"),
        ("status", "WAITING"),
        ("status", "seated"),
        ("limit", "0"),
        ("limit", "-1"),
        ("limit", "1001"),
        ("limit", "abc"),
        ("limit", "1.5"),
        ("limit", str(2**70)),
    ]:
        response = await client.get(
            f"{restaurant.admin}/queue", params={name: value}, headers=restaurant.headers
        )
        problem = assert_problem(response, 422)
        assert error_fields(problem) == [f"query.{name}"], (name, value)


async def test_characters_the_database_cannot_store_are_refused_not_a_500(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    for path in ["/api/public/a%00b", "/api/public/luigis%00/queue/" + str(uuid.uuid4())]:
        assert_problem(await client.get(path))
    nul_name = await client.post(f"{restaurant.public}/queue", json=join_body(name="Ada\u0000Lovelace"))
    assert_problem(nul_name)


async def test_a_bad_slug_in_a_page_address_is_a_not_found_page(client: httpx.AsyncClient) -> None:
    for path in ["/a%00b", "/staff/a%0d%0aSet-Cookie:%20x=1", "/UPPER", "/" + "a" * 64]:
        for headers in ({"Accept": "text/html"}, {"Accept": "text/html", "HX-Request": "true"}):
            response = await client.get(path, headers=headers)
            assert 400 <= response.status_code < 500, (path, response.status_code)
            assert "x=1" not in response.headers.get("set-cookie", "")


async def test_a_value_the_database_refuses_is_a_client_error(pg_database_url: str) -> None:
    """The safety net under validation: PostgreSQL's data exceptions (class 22) become a 400, never a 500."""
    database = open_database(Settings(database_url=pg_database_url))
    try:
        with pytest.raises(UnstorableInput):
            async with database.snapshot() as connection:
                await connection.execute(text("SELECT CAST(:value AS text)"), {"value": "a\x00b"})
    finally:
        await database.dispose()
