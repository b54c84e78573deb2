"""/metrics for Prometheus only, when ``WAITLINE_METRICS_TOKEN`` is set: its scrape config sends the token as
``Authorization: Bearer …`` (``authorization: {credentials: …}``). Unset, /metrics is open (keep it off the
public internet at the proxy then)."""

from __future__ import annotations

import hmac

from fastapi import Request

from waitline.config import Settings
from waitline.domain import NotAuthenticated


async def require_metrics_token(request: Request) -> None:
    settings: Settings = request.app.state.settings
    if settings.metrics_token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = settings.metrics_token.get_secret_value().encode()
    # Compared in constant time: how long a guess takes says nothing of how close it came.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise NotAuthenticated("The metrics need the scrape token (Authorization: Bearer <token>).")
