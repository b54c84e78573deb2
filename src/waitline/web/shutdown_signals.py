"""Shutdown signals, chained: our handler runs first and decides when the one in place (the server's) runs."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

Forward = Callable[[int, FrameType | None], None]


@contextlib.contextmanager
def on_shutdown_signals(handler: Callable[[int, FrameType | None, Forward], None]) -> Iterator[None]:
    """Installs ``handler`` for SIGTERM and SIGINT while the block runs. It is given, besides the signal, a
    function that passes the signal on to the handler that was in place (or to the default action)."""
    previous: dict[int, Any] = {}

    def forward(signum: int, frame: FrameType | None) -> None:
        earlier = previous.get(signum)
        if callable(earlier):
            earlier(signum, frame)
        elif earlier == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    def installed(signum: int, frame: FrameType | None) -> None:
        handler(signum, frame, forward)

    try:
        for shutdown_signal in (signal.SIGTERM, signal.SIGINT):
            previous[shutdown_signal] = signal.signal(shutdown_signal, installed)
    except ValueError:  # not the main thread: nothing to chain onto
        previous.clear()
    try:
        yield
    finally:
        for number, earlier in previous.items():
            if signal.getsignal(number) is installed:
                signal.signal(number, earlier)
