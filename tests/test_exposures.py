"""What the app gives away beyond its answers: where /docs loads from, what caches may keep, HSTS, /metrics.

/docs is Swagger UI from /static under a Content-Security-Policy (FastAPI's CDN pages are off; the browser
test renders it); JSON answers, errors included, are ``no-store``; an https public URL brings HSTS; and with
``WAITLINE_METRICS_TOKEN`` /metrics answers Prometheus' bearer token only.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import StaffRestaurant, join_body
from waitline.config import Settings
from waitline.web.app import create_app

pytestmark = pytest.mark.anyio

Client = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def client_with(settings: Settings, restaurant: StaffRestaurant) -> Client:
    @asynccontextmanager
    async def client_with(**configured: object) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(settings.model_copy(update=configured))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://waitline.test") as client:
                yield client

    return client_with


# --- /docs --------------------------------------------------------------------------------------------------


async def test_the_api_docs_load_everything_from_this_server_under_a_csp(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")

    assert docs.status_code == 200
    policy = docs.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert "<script>" not in docs.text  # no inline script: the CSP would refuse it
    loaded = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert loaded, docs.text
    assert [url for url in loaded if not url.startswith(("/static/", "data:"))] == []
    for url in loaded:
        if url.startswith("/static/"):
            assert (await client.get(url)).status_code == 200, url


async def test_fastapis_cdn_pages_are_gone(client: httpx.AsyncClient) -> None:
    assert (await client.get("/redoc")).status_code == 404
    assert (await client.get("/docs/oauth2-redirect")).status_code == 404


# --- caches -------------------------------------------------------------------------------------------------


async def test_json_answers_and_problems_are_never_stored_by_a_cache(
    client: httpx.AsyncClient, restaurant: StaffRestaurant
) -> None:
    joined = await client.post(f"{restaurant.public}/queue", json=join_body(0))
    answers = {
        "join": joined,
        "staff list with phone numbers": await client.get(
            f"{restaurant.admin}/queue", headers=restaurant.headers
        ),
        "summary": await client.get(restaurant.public),
        "entry": await client.get(f"{restaurant.public}/queue/{joined.json()['id']}"),
        "404 problem": await client.get("/api/public/nobody-here"),
        "422 problem": await client.post(f"{restaurant.public}/queue", json={}),
        "401 problem": await client.get(f"{restaurant.admin}/queue"),
        "413 problem": await client.post(f"{restaurant.public}/queue", content=b"x" * 70_000),
        "openapi": await client.get("/openapi.json"),
        "health": await client.get("/healthz"),
    }

    assert {name: answer.headers.get("cache-control") for name, answer in answers.items()} == {
        name: "no-store" for name in answers
    }
    assert answers["staff list with phone numbers"].json()["entries"][0]["mobileNumber"]


async def test_what_sets_its_own_cache_policy_keeps_it(client: httpx.AsyncClient) -> None:
    versioned = await client.get("/static/swagger-ui.css?v=1")

    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"


# --- HSTS ---------------------------------------------------------------------------------------------------


async def test_an_https_public_url_brings_hsts_on_every_answer(client_with: Client) -> None:
    async with client_with(public_url="https://queue.example.com") as client:
        host = {"Host": "queue.example.com"}
        answers = [
            await client.get(path, headers=host)
            for path in ["/api/public/luigis", "/luigis", "/api/public/nobody-here", "/static/app.css"]
        ]

    assert {answer.headers.get("strict-transport-security") for answer in answers} == {"max-age=31536000"}


@pytest.mark.parametrize("public_url", [None, "http://queue.example.com"])
async def test_no_hsts_without_an_https_public_url(client_with: Client, public_url: str | None) -> None:
    async with client_with(public_url=public_url) as client:
        answer = await client.get("/luigis", headers={"Host": "queue.example.com"})

    assert answer.status_code == 200
    assert "strict-transport-security" not in answer.headers


# --- /metrics -----------------------------------------------------------------------------------------------


async def test_with_a_metrics_token_only_its_bearer_gets_the_metrics(client_with: Client) -> None:
    token = "scrape-secret-0123456789"
    async with client_with(metrics_token=SecretStr(token)) as client:
        anonymous = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": f"Bearer {token[:-1]}0"})
        other_scheme = await client.get("/metrics", headers={"Authorization": f"Basic {token}"})
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})

    for refused in (anonymous, wrong, other_scheme):
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "waitline_" not in refused.text
    assert right.status_code == 200
    assert "waitline_request_duration_seconds" in right.text


async def test_without_a_metrics_token_the_metrics_are_open(client_with: Client) -> None:
    async with client_with() as client:
        answer = await client.get("/metrics")

    assert answer.status_code == 200
    assert "waitline_request_duration_seconds" in answer.text
