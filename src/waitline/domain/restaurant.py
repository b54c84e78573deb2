"""Restaurants (each has one queue), what anyone may see of a queue, and a day's counts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from waitline.domain.rows import as_uuid, datetime_from_row

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"

# Paths the web app serves at the top level; a restaurant cannot take one of these as its slug.
RESERVED_SLUGS = frozenset(
    {"api", "admin", "staff", "static", "docs", "redoc", "openapi.json", "healthz", "readyz"}
)


@dataclass(frozen=True)
class Restaurant:
    id: uuid.UUID
    slug: str
    name: str
    queue_open: bool
    default_region: str | None
    created_at: datetime
    organisation_id: uuid.UUID | None = None
    time_zone: str = "UTC"  # IANA name: hours, analytics and the times guests read
    default_language: str = "en"  # for guests whose browser asks for none of ours

    @property
    def zone(self) -> ZoneInfo:
        """The location's time zone (its settings page accepts only names this system knows)."""
        return ZoneInfo(self.time_zone)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Restaurant:
        return cls(
            id=as_uuid(row["id"]),
            slug=row["slug"],
            name=row["name"],
            queue_open=bool(row["queue_open"]),
            default_region=row["default_region"],
            created_at=datetime_from_row(row["created_at"]),
            organisation_id=as_uuid(row["organisation_id"]) if row.get("organisation_id") else None,
            time_zone=row["time_zone"],
            default_language=row["default_language"],
        )


@dataclass(frozen=True)
class QueueSummary:
    """What anyone may see about a restaurant's queue: no personal data."""

    restaurant: Restaurant
    waiting_count: int
    now_serving: int | None


@dataclass(frozen=True)
class DayCounts:
    """What happened in a restaurant's queue since the day began."""

    joined: int
    called: int
    seated: int
    no_shows: int
    cancelled: int

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> DayCounts:
        return cls(
            joined=int(row["joined"] or 0),
            called=int(row["called"] or 0),
            seated=int(row["seated"] or 0),
            no_shows=int(row["no_shows"] or 0),
            cancelled=int(row["cancelled"] or 0),
        )
