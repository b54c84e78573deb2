"""Only the host names this server is configured for, once it is told which: the Host header ends up in the
board's address and the QR code (and in anything else that builds a URL from the request), so a request for
any other name is refused before a handler sees it.

The names are the host of ``WAITLINE_PUBLIC_URL`` and those in ``WAITLINE_ALLOWED_HOSTS``; with neither set
any name is answered, so the demo works on localhost, 127.0.0.1 or a LAN address alike. The operations
endpoints are answered whatever the name: health probes and Prometheus reach an instance by its address.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from waitline.config import Settings
from waitline.web import problems

# Answered for any host name: they build no URL from it.
OPERATIONS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

# RFC 9110's Host: a bracketed IPv6 literal or a name (or IPv4 address), then an optional port.
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?")


def host_name(value: str) -> str | None:
    """``"Queue.Example.com.:443"`` -> ``"queue.example.com"``; None for anything that is not a host."""
    found = _HOST.fullmatch(value.strip())
    if found is None:
        return None
    return found.group(1).strip("[]").rstrip(".").lower() or None


def configured_hosts(settings: Settings) -> frozenset[str] | None:
    """The names to answer for; None: any name (nothing configured)."""
    names = [name for name in settings.allowed_hosts.split(",") if name.strip()]
    if settings.public_url:
        names.append(urlsplit(settings.public_url).netloc)
    hosts = {host_name(name) for name in names}
    return frozenset(host for host in hosts if host is not None) or None


class AllowedHostsMiddleware:
    def __init__(self, app: ASGIApp, *, hosts: frozenset[str] | None) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.hosts is None or scope["type"] != "http" or scope["path"] in OPERATIONS_PATHS:
            await self.app(scope, receive, send)
            return
        given = [value.decode("latin-1") for name, value in scope["headers"] if name == b"host"]
        host = host_name(given[0]) if len(given) == 1 else None
        if host in self.hosts:
            await self.app(scope, receive, send)
            return
        if host is None:  # RFC 9112, 3.2: no Host, several, or not a host at all
            response = problems.problem_response(
                status=400, code="bad-host", title="Bad Host header", detail="Send one valid Host header."
            )
        else:
            response = problems.problem_response(
                status=421,
                code="unknown-host",
                title="Misdirected request",
                detail="This server does not answer for that host name.",
            )
        await response(scope, receive, send)
