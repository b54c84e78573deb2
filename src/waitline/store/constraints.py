"""Constraint names -> domain errors: what a unique or check violation means to the client."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.exc import IntegrityError

from waitline.domain import AlreadyInQueue, SlugTaken

# SQLite reports the columns of a failed UNIQUE constraint, not its name; this maps them back.
_SQLITE_UNIQUE_COLUMNS = {
    "restaurant.slug": "restaurant_slug_key",
    "queue_entry.restaurant_id, queue_entry.idempotency_key": "queue_entry_idempotency_key_key",
    "queue_entry.restaurant_id, queue_entry.token_number": "queue_entry_token_key",
    "queue_entry.restaurant_id, queue_entry.mobile": "queue_entry_active_mobile_key",
}


class DuplicateIdempotencyKey(Exception):
    """Two copies of one request raced past the counter lock: read the winner (see services.queue)."""


_CONSTRAINT_ERRORS: Mapping[str, type[Exception]] = {
    "restaurant_slug_key": SlugTaken,
    "queue_entry_idempotency_key_key": DuplicateIdempotencyKey,
    # Only reachable if the check under the counter lock were skipped: the index is the backstop.
    "queue_entry_active_mobile_key": AlreadyInQueue,
}


def constraint_name(error: IntegrityError) -> str | None:
    name = getattr(error.orig, "constraint_name", None)
    if name is None and error.orig is not None:
        # asyncpg's exception sits behind SQLAlchemy's adapter.
        name = getattr(getattr(error.orig, "__cause__", None), "constraint_name", None)
    if name is None:
        message = str(error.orig)
        prefix = "UNIQUE constraint failed: "
        if message.startswith(prefix):
            name = _SQLITE_UNIQUE_COLUMNS.get(message[len(prefix) :])
    return name


def domain_error(error: IntegrityError) -> Exception:
    """The domain error a violated constraint stands for, or ``error`` itself when it stands for none."""
    return error_for_constraint(constraint_name(error)) or error


def error_for_constraint(name: str | None) -> Exception | None:
    """The domain error the constraint ``name`` stands for, None when it stands for none."""
    error_type = _CONSTRAINT_ERRORS.get(name or "")
    return error_type() if error_type else None
