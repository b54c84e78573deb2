"""The bench's PostgreSQL settings. The server itself is ``tests.postgres.PostgresServer``: a private one
started from the installed binaries, which the fault scenario may restart (``pg_ctl restart -m fast``)
without touching anybody else's server.

Durability stays as in production (``fsync=on``, ``synchronous_commit=on``, full-page writes): a 201 from
waitline means the join is on disk, so the bench pays for that too, and so does pgbench beside it.
"""

from __future__ import annotations

# Sized for this box (2 cores, 24 GiB) and a run of a few minutes: everything in memory, no checkpoint
# or WAL recycling in the middle of a measurement, no JIT (it only adds start-up cost to short statements).
SETTINGS: dict[str, str] = {
    "max_connections": "300",
    "shared_buffers": "1GB",
    "effective_cache_size": "8GB",
    "work_mem": "8MB",
    "maintenance_work_mem": "256MB",
    "wal_buffers": "32MB",
    "max_wal_size": "8GB",
    "min_wal_size": "1GB",
    "checkpoint_timeout": "30min",
    "checkpoint_completion_target": "0.9",
    "random_page_cost": "1.1",
    "jit": "off",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "log_min_messages": "warning",
    "log_checkpoints": "on",
}
