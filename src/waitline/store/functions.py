"""The PL/pgSQL functions waitline runs on PostgreSQL, each kept in ONE canonical file under ``store/sql/``.

A migration that creates or changes a function carries a frozen copy of the file as it was then, so that
history never changes under it; ``tests/test_canonical_functions.py`` checks that the functions a migrated
database holds are exactly these files.
"""

from __future__ import annotations

from importlib import resources

# In the order they can be created: each may call the ones before it.
FUNCTIONS = (
    "waitline_netstring",
    "waitline_event_hash",
    "waitline_refuse_event_change",
    "waitline_append_event",
    "waitline_hit_limits",
    "waitline_join",
    "waitline_join_batch",
    "waitline_call_next",
    "waitline_enqueue_messages",
    "waitline_channel_twins",
    "waitline_roll_up_event",
)


def canonical_sql(name: str) -> str:
    """The ``CREATE OR REPLACE FUNCTION`` statement of function ``name``."""
    if name not in FUNCTIONS:
        raise KeyError(name)
    return resources.files("waitline.store").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")
