"""Draining on SIGTERM: load balancers are told first, the server stops taking connections after.

From the first SIGTERM (or SIGINT) on, ``/readyz`` answers 503, and a Unix socket's path is removed: a proxy
on the same machine (nginx) then gets "connection refused" at its next connect and passes the request to
another instance, POSTs included, since nothing was sent. Connections that reached the socket before stay
in its queue and are served. ``drain_seconds`` later the server's own handler runs: it stops listening (no
connection can be queued any more, so none is reset) and lets requests in flight finish.
A second signal skips what is left of the drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import Iterator
from types import FrameType

import structlog

from waitline.web.shutdown_signals import Forward, on_shutdown_signals

_log = structlog.get_logger("waitline.shutdown")


class Drain:
    """Whether this process is draining (its readiness is then 503)."""

    def __init__(self) -> None:
        self.active = False


def remove_socket_path(path: str) -> None:
    """Unlink the Unix socket at ``path`` (only a socket: never a file put there since)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)


@contextlib.contextmanager
def draining_on_shutdown(drain: Drain, *, drain_seconds: float, unix_socket: str | None) -> Iterator[None]:
    """Runs the signal handler in place (the server's) ``drain_seconds`` after the first shutdown signal."""
    loop = asyncio.get_running_loop()
    pending: list[asyncio.TimerHandle] = []

    def handler(signum: int, frame: FrameType | None, forward: Forward) -> None:
        if drain.active:  # asked again: stop draining now
            for timer in pending:
                timer.cancel()
            forward(signum, frame)
            return
        drain.active = True
        if unix_socket is not None:
            remove_socket_path(unix_socket)
        loop.call_soon_threadsafe(start_draining, signum, frame, forward)

    def start_draining(signum: int, frame: FrameType | None, forward: Forward) -> None:
        _log.info("shutdown.draining", seconds=drain_seconds, unix_socket_removed=unix_socket is not None)
        pending.append(loop.call_later(drain_seconds, forward, signum, frame))

    try:
        with on_shutdown_signals(handler):
            yield
    finally:
        for timer in pending:
            timer.cancel()
