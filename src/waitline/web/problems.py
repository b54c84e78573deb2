"""RFC 9457 problem+json for every error: domain errors, validation, HTTP errors, and the unforeseen."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match

from waitline import domain
from waitline.ratelimit import Decision, RateLimited
from waitline.web.csrf import CsrfRefused

MEDIA_TYPE = "application/problem+json"
RETRY_AFTER_SECONDS = 2

# Domain error -> (HTTP status, stable problem code clients can branch on).
_DOMAIN: dict[type[domain.WaitlineError], tuple[int, str]] = {
    domain.RestaurantNotFound: (404, "restaurant-not-found"),
    domain.EntryNotFound: (404, "entry-not-found"),
    domain.QueueClosed: (409, "queue-closed"),
    domain.QueueFull: (409, "queue-full"),
    domain.PartyTooLarge: (422, "party-too-large"),
    domain.AlreadyInQueue: (409, "already-in-queue"),
    RateLimited: (429, "rate-limited"),
    domain.TransitionNotAllowed: (409, "transition-not-allowed"),
    domain.SlugTaken: (409, "slug-taken"),
    domain.LastOwner: (409, "last-owner"),
    domain.IdempotencyKeyReused: (422, "idempotency-key-reused"),
    domain.InvalidMobileNumber: (422, "invalid-mobile-number"),
    domain.NotAuthenticated: (401, "not-authenticated"),
    domain.NotPermitted: (403, "not-permitted"),
    CsrfRefused: (403, "csrf-refused"),
    domain.ServiceUnavailable: (503, "service-unavailable"),
    domain.UnstorableInput: (400, "unstorable-input"),
}

_log = logging.getLogger("waitline.web")


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None
    # queue-closed outside opening hours: the next opening, ISO 8601 with the location's UTC offset.
    opensAt: str | None = None


def problem_type(code: str) -> str:
    return f"urn:waitline:problem:{code}"


def problem_response(
    *,
    status: int,
    code: str | None,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    errors: list[FieldError] | None = None,
    opens_at: str | None = None,
) -> JSONResponse:
    body = Problem(
        type=problem_type(code) if code else "about:blank",
        title=title,
        status=status,
        detail=detail,
        errors=errors,
        opensAt=opens_at,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, headers=headers, media_type=MEDIA_TYPE
    )


_PROBLEM_REF = "#/components/schemas/Problem"


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers) for one decision."""
    policy = decision.policy
    wait = decision.reset_after if decision.allowed else decision.retry_after
    return {
        "RateLimit-Policy": f'"{policy.name}";q={policy.limit};w={math.ceil(policy.period_seconds)}',
        "RateLimit": f'"{policy.name}";r={decision.remaining};t={math.ceil(wait)}',
    }


def documented(*statuses: int, **others: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` for the problems a route can answer with (and ``others``, by status)."""
    # "model" puts Problem (and FieldError) in components/schemas, where this $ref points.
    responses: dict[int | str, dict[str, Any]] = {
        status: {"model": Problem, "content": {MEDIA_TYPE: {"schema": {"$ref": _PROBLEM_REF}}}}
        for status in sorted({*statuses, 413, 422, 503})
    }
    responses.update({int(status.lstrip("_")): value for status, value in others.items()})
    return responses


async def _domain_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, domain.WaitlineError)
    status, code = _DOMAIN.get(type(error), (400, "bad-request"))
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if isinstance(error, RateLimited):
        headers.update(rate_limit_headers(error.decision))
        headers["Retry-After"] = str(max(math.ceil(error.decision.retry_after), 1))
    title = code.replace("-", " ").capitalize()
    opens_at = error.opens_at if isinstance(error, domain.QueueClosed) else None
    return problem_response(
        status=status,
        code=code,
        title=title,
        detail=error.detail,
        headers=headers,
        opens_at=None if opens_at is None else opens_at.isoformat(),
    )


def _field_error(item: dict[str, Any]) -> FieldError:
    loc = item.get("loc", ())
    if item.get("type") == "json_invalid":
        # Its loc is ("body", character offset): name the body, not a field called "17".
        reason = item.get("ctx", {}).get("error", "JSON decode error")
        position = loc[-1] if len(loc) > 1 else "?"
        return FieldError(field="body", message=f"not valid JSON ({reason}, at character {position})")
    return FieldError(
        field=".".join(str(part) for part in loc if part != "body") or "body",
        message=str(item.get("msg", "invalid")),
    )


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    # The offending input is left out: it may be a phone number.
    errors = [_field_error(item) for item in error.errors()]
    return problem_response(
        status=422,
        code="validation-failed",
        title="Validation failed",
        detail="The request has invalid or missing fields; see errors.",
        errors=errors,
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method the path answers to (Starlette's Allow names only the first route on the path)."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    title = {400: "Bad request", 404: "Not found", 405: "Method not allowed", 413: "Content too large"}.get(
        error.status_code, "HTTP error"
    )
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
    return problem_response(
        status=error.status_code,
        code=None,
        title=title,
        detail=str(error.detail),
        headers=headers,
    )


async def _unexpected_error(_request: Request, error: Exception) -> JSONResponse:
    _log.exception("unhandled error", exc_info=error)
    return problem_response(
        status=500,
        code="internal-error",
        title="Internal error",
        detail="Something went wrong on our side; it has been logged.",
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(domain.WaitlineError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


def status_of(error: domain.WaitlineError) -> int:
    """The HTTP status the API answers this error with (the pages use the same)."""
    return _DOMAIN.get(type(error), (400, "bad-request"))[0]
