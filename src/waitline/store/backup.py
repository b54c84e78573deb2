"""An online copy of an SQLite database, through SQLite's backup API.

The copy is taken in one step, inside one read transaction of the source: a consistent snapshot of every
transaction committed when it began, while writers go on (WAL mode: readers do not block them). It is
written beside the target under a temporary name and renamed into place once SQLite says it is whole, so
a target that exists is always a complete copy.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BackupMade:
    path: Path
    pages: int
    bytes: int


class BackupFailed(Exception):
    pass


def sqlite_backup(source: Path, target: Path, *, busy_timeout_seconds: float) -> BackupMade:
    if target.exists():
        raise BackupFailed(f"{target} exists: choose a new file (a backup never overwrites one)")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        with (
            contextlib.closing(sqlite3.connect(source, timeout=busy_timeout_seconds)) as origin,
            contextlib.closing(sqlite3.connect(partial)) as copy,
        ):
            origin.backup(copy)  # all pages in one step: one snapshot
            (verdict,) = copy.execute("PRAGMA integrity_check").fetchone()
            (pages,) = copy.execute("PRAGMA page_count").fetchone()
        if verdict != "ok":
            raise BackupFailed(f"the copy failed SQLite's integrity check: {verdict}")
        os.replace(partial, target)
    except sqlite3.Error as error:
        raise BackupFailed(f"the backup failed: {error}") from error
    finally:
        partial.unlink(missing_ok=True)
    return BackupMade(path=target, pages=int(pages), bytes=target.stat().st_size)
