"""SQLite's one writer across processes (``waitline serve --workers N``): a queue the kernel keeps.

Within a process the writing transactions already queue on an asyncio lock (store/engine.py). Across
processes they met at SQLite's own write lock, and a process that found it taken waited in SQLite's busy
handler: sleeps of 1, 2, 5, 10, ... up to 100 ms, polling. The lock was often free while the waiter slept,
and every request queued behind that waiter in its process slept with it: seconds of p99 with two workers.

Here each process's writer first takes an exclusive ``flock`` on a file beside the database
(``<database>-writer``). A process that finds it taken waits in the kernel, in a thread, and is woken the
moment the holder lets go: no polling, no idle gaps. SQLite's lock stays the real one (anything that does
not pass here, a migration, the command line, still meets it with its busy timeout); this gate only orders
the serving processes in front of it. Uncontended, it costs two system calls per transaction. Where there
is no ``flock`` (Windows), there is no gate: SQLite's lock and busy handler serialise the processes as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

# POSIX only; imported where it exists.
FLOCK_AVAILABLE = importlib.util.find_spec("fcntl") is not None
if FLOCK_AVAILABLE:
    import fcntl


class ProcessWriterGate:
    def __init__(self, database_path: str) -> None:
        self._path = f"{database_path}-writer"
        self._fd: int | None = None

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """The gate, for one writing transaction. Callers in one process must not overlap (the engine's
        asyncio lock sees to it): the ``flock`` belongs to this process's open file, not to a task."""
        fd = self._file()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting = asyncio.get_running_loop().run_in_executor(None, fcntl.flock, fd, fcntl.LOCK_EX)
            try:
                await asyncio.shield(waiting)
            except asyncio.CancelledError:
                # Given up (a timeout): the thread still gets the lock in the end, and lets it go at once.
                def let_go(done: asyncio.Future[None]) -> None:
                    if not done.cancelled() and done.exception() is None:
                        _unlock(fd)

                waiting.add_done_callback(let_go)
                raise
        try:
            yield
        finally:
            _unlock(fd)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def _unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
