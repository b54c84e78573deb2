"""Staff accounts and their sessions."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from waitline.domain.restaurant import Restaurant
from waitline.domain.rows import as_uuid

MAX_EMAIL_LENGTH = 254
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024


def normalise_email(raw: str) -> str:
    return raw.strip().lower()


@dataclass(frozen=True)
class StaffMember:
    id: uuid.UUID
    restaurant_id: uuid.UUID
    email: str
    role: str = "host"  # a waitline.domain.access.Role value: "manager" or "host"

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> StaffMember:
        return cls(
            id=as_uuid(row["id"]),
            restaurant_id=as_uuid(row["restaurant_id"]),
            email=row["email"],
            role=row.get("role") or "host",
        )


@dataclass(frozen=True)
class StaffSession:
    """A signed-in staff member and the restaurant they work for."""

    staff: StaffMember
    restaurant: Restaurant


@dataclass(frozen=True)
class ApiToken:
    """A staff API token, known by its hash: which restaurant it acts for."""

    id: uuid.UUID
    restaurant_id: uuid.UUID

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> ApiToken:
        return cls(id=as_uuid(row["id"]), restaurant_id=as_uuid(row["restaurant_id"]))


@dataclass(frozen=True)
class LoginAttempt:
    """A login attempt let through by the throttle: its number among consecutive failures so far."""

    number: int
