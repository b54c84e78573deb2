"""A restaurant's generated history: parties arriving over days, one host calling them first come, first
served at known service times, some leaving, some not showing up; the entries and their hash-chained events
written straight into the database (as if they had happened), for the analytics tests and bench.

The model (times in minutes, the location's days in UTC):
- Parties arrive from 11:00 to 22:00, a Poisson process whose rate follows lunch and dinner peaks and is
  1.4x at weekends, ``parties_per_day`` on average. Party sizes 1-8, mostly 2.
- A host seats one party at a time: a seating takes ``SERVICE_BASE + SERVICE_PER_GUEST x size`` times an
  exponential draw and a pace set so that the weekday dinner peak loads the host to ``PEAK_LOAD`` (the known
  service times). A party is called when the host is free and it is first.
- 6% of parties have a patience of 5-40 minutes and leave when it runs out before their call (one in five
  of those is cancelled by staff instead); 4% of the parties called do not show up (4 minutes of the host).
- A seated party sits 1-3 minutes after its call.
Each entry records its place at joining; with ``quote`` it records a quoted range too.
"""

from __future__ import annotations

import heapq
import importlib
import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from waitline.domain import GENESIS_HASH, Actor, EventDraft, EventType
from waitline.domain.event import ActorKind, Event
from waitline.store.values import moment

_ROLLUPS = importlib.import_module("waitline.migrations.versions.0012_rollups")
# The host's pace: the weekday dinner peak loads the host to PEAK_LOAD (queues build at weekends).
PEAK_LOAD = 0.85
SERVICE_BASE = 0.5
SERVICE_PER_GUEST = 0.25
MEAN_SIZE = 35 / 11
OPEN_HOUR, CLOSE_HOUR = 11, 22
# Relative arrival rate by hour of the day (11 .. 21).
HOURLY_SHAPE = (0.6, 1.6, 1.8, 1.0, 0.5, 0.4, 0.7, 1.5, 2.0, 1.7, 0.9)
SIZES = (1, 2, 2, 2, 2, 3, 4, 4, 5, 6, 8)
STAFF = Actor(ActorKind.STAFF, "00000000-0000-4000-8000-0000000000aa")
GUEST = Actor(ActorKind.GUEST)


@dataclass
class Party:
    token: int
    size: int
    joined: datetime
    position: int
    status: str = "waiting"
    called: datetime | None = None
    finished: datetime | None = None
    quote: tuple[int, int] | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def seat_wait(self) -> float | None:
        if self.status != "seated" or self.finished is None:
            return None
        return (self.finished - self.joined).total_seconds() / 60


def _minutes(at: datetime, minutes: float) -> datetime:
    moment_ = at + timedelta(minutes=minutes)
    return moment_.replace(microsecond=moment_.microsecond // 1000 * 1000)


def simulate(
    *,
    first_day: date,
    days: int,
    parties_per_day: float,
    seed: int,
    quote: Callable[[Party], tuple[int, int] | None] | None = None,
) -> list[Party]:
    """The parties of ``days`` days from ``first_day``, in token order."""
    rng = random.Random(seed)
    shape_total = sum(HOURLY_SHAPE)
    peak_per_minute = parties_per_day * max(HOURLY_SHAPE) / shape_total / 60
    pace = PEAK_LOAD / peak_per_minute / (SERVICE_BASE + SERVICE_PER_GUEST * MEAN_SIZE)
    arrivals: list[datetime] = []
    for day in range(days):
        midnight = datetime.combine(first_day + timedelta(days=day), datetime.min.time(), tzinfo=UTC)
        weekend = 1.4 if midnight.weekday() >= 5 else 1.0
        for offset, weight in enumerate(HOURLY_SHAPE):
            rate = parties_per_day * weekend * weight / shape_total  # per hour
            hour_start = midnight + timedelta(hours=OPEN_HOUR + offset)
            clock = rng.expovariate(rate) * 60
            while clock < 60:
                arrivals.append(_minutes(hour_start, clock))
                clock += rng.expovariate(rate) * 60
    parties: list[Party] = []
    free_at = datetime.min.replace(tzinfo=UTC)
    departures: list[datetime] = []  # when each earlier party stopped waiting (called or gone)
    for token, joined in enumerate(arrivals, start=1):
        while departures and departures[0] <= joined:
            heapq.heappop(departures)
        party = Party(token=token, size=rng.choice(SIZES), joined=joined, position=len(departures) + 1)
        if quote is not None:
            party.quote = quote(party)
        call = max(free_at, joined)
        patience = rng.uniform(5, 40) if rng.random() < 0.06 else math.inf
        if (call - joined).total_seconds() / 60 > patience:
            party.status = "cancelled" if rng.random() < 0.2 else "left"
            party.finished = _minutes(joined, patience)
            heapq.heappush(departures, party.finished)
            parties.append(party)
            continue
        party.called = _minutes(call, 0)
        heapq.heappush(departures, party.called)
        if rng.random() < 0.04:
            party.status, party.finished = "no_show", _minutes(call, 4)
            free_at = party.finished
        else:
            service = pace * (SERVICE_BASE + SERVICE_PER_GUEST * party.size) * rng.expovariate(1.0)
            party.status, party.finished = "seated", _minutes(call, rng.uniform(1, 3))
            free_at = _minutes(call, service)
        parties.append(party)
    return parties


_EVENT_OF = {
    "seated": EventType.SEATED,
    "no_show": EventType.NO_SHOW,
    "cancelled": EventType.CANCELLED,
    "left": EventType.LEFT,
}


def events_of(restaurant_id: uuid.UUID, parties: list[Party]) -> list[Event]:
    """Every party's events, in time order, numbered and hash-chained as the log would have."""
    steps: list[tuple[datetime, int, int, EventDraft]] = []
    for party in parties:
        steps.append(
            (
                party.joined,
                0,
                party.token,
                EventDraft(EventType.JOINED, GUEST, entry_id=party.id, token_number=party.token),
            )
        )
        if party.called is not None:
            steps.append(
                (
                    party.called,
                    1,
                    party.token,
                    EventDraft(EventType.CALLED, STAFF, entry_id=party.id, token_number=party.token),
                )
            )
        if party.finished is not None:
            actor = GUEST if party.status == "left" else STAFF
            steps.append(
                (
                    party.finished,
                    2,
                    party.token,
                    EventDraft(_EVENT_OF[party.status], actor, entry_id=party.id, token_number=party.token),
                )
            )
    steps.sort(key=lambda step: step[:3])
    recorded, prev_hash = [], GENESIS_HASH
    for seq, (at, _, _, draft) in enumerate(steps, start=1):
        event = Event.recorded(draft, restaurant_id=restaurant_id, seq=seq, at=at, prev_hash=prev_hash)
        recorded.append(event)
        prev_hash = event.hash
    return recorded


_INSERT_ENTRY = text(
    """
    INSERT INTO queue_entry (id, restaurant_id, token_number, name, mobile, party_size, status,
                             created_at, called_at, finished_at, position_at_join, quoted_low_minutes,
                             quoted_high_minutes)
    VALUES (:id, :restaurant_id, :token_number, :name, :mobile, :party_size, :status, :created_at,
            :called_at, :finished_at, :position_at_join, :low, :high)
    """
)
_INSERT_EVENT = text(
    """
    INSERT INTO queue_event (restaurant_id, seq, type, entry_id, token_number, actor_kind, actor_id, reason,
                             details, at, prev_hash, hash)
    VALUES (:restaurant_id, :seq, :type, :entry_id, :token_number, :actor_kind, :actor_id, :reason, :details,
            :at, :prev_hash, :hash)
    """
)
_HEAD = text(
    """
    UPDATE token_sequence SET last_token = :last_token, last_seq = :last_seq, last_hash = :last_hash,
        waiting = (SELECT count(*) FROM queue_entry e
                   WHERE e.restaurant_id = token_sequence.restaurant_id AND e.status = 'waiting')
    WHERE restaurant_id = :restaurant_id
    """
)
BATCH = 5000


def _value(connection: AsyncConnection, value: Any) -> Any:
    if isinstance(value, datetime):
        return moment(connection, value)
    if isinstance(value, uuid.UUID):
        return value if connection.dialect.name == "postgresql" else str(value)
    return value


async def write(
    connection: AsyncConnection, restaurant_id: uuid.UUID, parties: list[Party], *, bulk: bool = True
) -> list[Event]:
    """Store ``parties`` and their events as ``restaurant_id``'s whole history (its log must be empty).
    ``bulk=False``: the rollups' trigger adds up each event as it goes in, as it does live."""
    recorded = events_of(restaurant_id, parties)
    entry_rows = [
        {
            "id": party.id,
            "restaurant_id": restaurant_id,
            "token_number": party.token,
            "name": f"Guest {party.token}",
            "mobile": f"+4477009{party.token:05d}"[:13],
            "party_size": party.size,
            "status": "cancelled" if party.status == "left" else party.status,  # the guest cancelled
            "created_at": party.joined,
            "called_at": party.called,
            "finished_at": party.finished,
            "position_at_join": party.position,
            "low": None if party.quote is None else party.quote[0],
            "high": None if party.quote is None else party.quote[1],
        }
        for party in parties
    ]
    event_rows = [
        {
            "restaurant_id": restaurant_id,
            "seq": event.seq,
            "type": event.type.value,
            "entry_id": event.entry_id,
            "token_number": event.token_number,
            "actor_kind": event.actor.kind.value,
            "actor_id": event.actor.id,
            "reason": event.reason,
            "details": event.details,
            "at": event.at,
            "prev_hash": event.prev_hash,
            "hash": event.hash,
        }
        for event in recorded
    ]
    # On PostgreSQL the analytics rollups' trigger is off while the history goes in, and the history is
    # added up after, as the rollups' migration adds up what exists: thousands of events in ONE transaction
    # would update each month's rollup rows thousands of times in it, and PostgreSQL keeps every version
    # until the end (live, each event is a transaction of its own).
    bulk = bulk and connection.dialect.name == "postgresql"
    if bulk:
        await connection.execute(text("ALTER TABLE queue_event DISABLE TRIGGER queue_event_roll_up"))
    for statement, rows in ((_INSERT_ENTRY, entry_rows), (_INSERT_EVENT, event_rows)):
        for start in range(0, len(rows), BATCH):
            batch = [
                {key: _value(connection, value) for key, value in row.items()}
                for row in rows[start : start + BATCH]
            ]
            await connection.execute(statement, batch)
    if bulk:
        await connection.execute(text("ALTER TABLE queue_event ENABLE TRIGGER queue_event_roll_up"))
        one = {"restaurant_id": _value(connection, restaurant_id)}
        day = "(q.at AT TIME ZONE r.time_zone)::date"
        await connection.execute(
            text(_ROLLUPS.BACKFILL_COUNTS.format(day=day, restaurants=":restaurant_id")), one
        )
        waits = _ROLLUPS.BACKFILL_WAITS.format(**_ROLLUPS.POSTGRESQL_PARTS, restaurants=":restaurant_id")
        await connection.execute(text(waits), one)
    head = {
        "restaurant_id": _value(connection, restaurant_id),
        "last_token": len(parties),
        "last_seq": len(recorded),
        "last_hash": recorded[-1].hash if recorded else GENESIS_HASH,
    }
    await connection.execute(_HEAD, head)
    return recorded
