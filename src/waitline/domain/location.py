"""A location's settings as an owner or manager edits them: country, time zone, opening hours per weekday,
closed dates, limits. Parsed and checked here, from the text an admin form sends, before anything is saved.

Opening hours are stored as JSON ``{"mon": [["11:30", "14:30"], ["18:00", "22:00"]], ...}``; a weekday that
is missing or empty is closed; no hours at all (NULL) means always open, as every location was before.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from waitline.domain.entry import MAX_PARTY_SIZE
from waitline.domain.errors import SettingsInvalid

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LANGUAGES = ("en", "es", "fr", "de", "pt", "ar")
MAX_NAME = 120
MAX_WAITING = 10_000
_SPAN = re.compile(r"^\s*([01]\d|2[0-3]):([0-5]\d)\s*-\s*([01]\d|2[0-4]):([0-5]\d)\s*$")
_REGION = re.compile(r"^[A-Z]{2}$")

Hours = dict[str, list[tuple[time, time]]]


@dataclass(frozen=True)
class LocationSettings:
    name: str
    default_region: str | None
    time_zone: str = "UTC"
    default_language: str = "en"
    max_waiting: int | None = None
    max_party_size: int | None = None
    opening_hours: Hours | None = None
    closed_dates: tuple[date, ...] = field(default=())
    queue_open: bool = True

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> LocationSettings:
        return cls(
            name=row["name"],
            default_region=row["default_region"],
            time_zone=row["time_zone"],
            default_language=row["default_language"],
            max_waiting=row["max_waiting"],
            max_party_size=row["max_party_size"],
            opening_hours=decode_hours(row["opening_hours"]),
            closed_dates=tuple(date.fromisoformat(day) for day in json.loads(row["closed_dates"] or "[]")),
            queue_open=bool(row["queue_open"]),
        )

    def columns(self) -> dict[str, Any]:
        """The values as the restaurant row stores them."""
        return {
            "name": self.name,
            "default_region": self.default_region,
            "time_zone": self.time_zone,
            "default_language": self.default_language,
            "max_waiting": self.max_waiting,
            "max_party_size": self.max_party_size,
            "opening_hours": encode_hours(self.opening_hours),
            "closed_dates": json.dumps([day.isoformat() for day in self.closed_dates])
            if self.closed_dates
            else None,
        }

    def described(self) -> dict[str, Any]:
        """For the audit trail: JSON-able, as a person reads it."""
        return {
            **{
                key: value
                for key, value in self.columns().items()
                if key not in ("opening_hours", "closed_dates")
            },
            "opening_hours": hours_text(self.opening_hours),
            "closed_dates": [day.isoformat() for day in self.closed_dates],
            "queue_open": self.queue_open,
        }

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


def encode_hours(hours: Hours | None) -> str | None:
    if hours is None:
        return None
    return json.dumps(
        {
            day: [[start.strftime("%H:%M"), _end_text(end)] for start, end in spans]
            for day, spans in hours.items()
        },
        sort_keys=True,
    )


def decode_hours(raw: str | None) -> Hours | None:
    if raw is None:
        return None
    return {
        day: [(_clock(start), _clock(end)) for start, end in spans] for day, spans in json.loads(raw).items()
    }


def _clock(text: str) -> time:
    return time.max if text == "24:00" else time.fromisoformat(text)


def hours_text(hours: Hours | None) -> dict[str, str]:
    """Each weekday's spans as the form shows them: ``11:30-14:30, 18:00-22:00``."""
    if hours is None:
        return {}
    return {
        day: ", ".join(f"{start.strftime('%H:%M')}-{_end_text(end)}" for start, end in hours.get(day, []))
        for day in WEEKDAYS
    }


def _end_text(end: time) -> str:
    return "24:00" if end == time.max else end.strftime("%H:%M")


def parse_spans(text: str) -> list[tuple[time, time]]:
    """``11:30-14:30, 18:00-22:00`` -> spans; blank -> closed that day. Raises SettingsInvalid."""
    spans: list[tuple[time, time]] = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        match = _SPAN.match(part)
        if match is None:
            raise SettingsInvalid(f"Opening hours are written like 11:30-14:30, 18:00-22:00 (not {part!r}).")
        start = time(int(match[1]), int(match[2]))
        end = time.max if match[3] == "24" else time(int(match[3]), int(match[4]))
        if (match[3] == "24" and match[4] != "00") or end <= start:
            raise SettingsInvalid(f"{part}: a span ends after it starts, on the same day.")
        spans.append((start, end))
    spans.sort()
    for (_, end), (start, _) in itertools.pairwise(spans):
        if start < end:
            raise SettingsInvalid("Opening hours of one day must not overlap.")
    return spans


def parse_settings(form: Mapping[str, str], *, queue_open: bool) -> LocationSettings:
    """The settings an admin form sent, checked; raises SettingsInvalid saying what is wrong."""
    name = form.get("name", "").strip()
    if not 0 < len(name) <= MAX_NAME or not name.isprintable():
        raise SettingsInvalid(f"A name is 1 to {MAX_NAME} printable characters.")
    region = form.get("default_region", "").strip().upper() or None
    if region is not None and not _REGION.match(region):
        raise SettingsInvalid("The country is a two-letter code, like GB or FR.")
    zone = form.get("time_zone", "").strip() or "UTC"
    if zone not in available_timezones():
        raise SettingsInvalid("The time zone is an IANA name, like Europe/London.")
    language = form.get("default_language", "").strip() or "en"
    if language not in LANGUAGES:
        raise SettingsInvalid(f"The language is one of {', '.join(LANGUAGES)}.")
    max_waiting = _limit(form.get("max_waiting", ""), MAX_WAITING, "parties waiting")
    max_party = _limit(form.get("max_party_size", ""), MAX_PARTY_SIZE, "a party's size")
    hours: Hours | None = None
    if form.get("hours_enabled") == "on":
        hours = {day: parse_spans(form.get(f"hours_{day}", "")) for day in WEEKDAYS}
    closed: list[date] = []
    for piece in filter(None, (part.strip() for part in re.split(r"[,\s]+", form.get("closed_dates", "")))):
        try:
            closed.append(date.fromisoformat(piece))
        except ValueError:
            raise SettingsInvalid(f"Closed dates are written 2026-12-25 (not {piece!r}).") from None
    return LocationSettings(
        name=name,
        default_region=region,
        time_zone=zone,
        default_language=language,
        max_waiting=max_waiting,
        max_party_size=max_party,
        opening_hours=hours,
        closed_dates=tuple(sorted(set(closed))),
        queue_open=queue_open,
    )


def _limit(text: str, most: int, what: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise SettingsInvalid(f"The limit on {what} is a whole number from 1 to {most}, or blank for none.")
    return int(text)
