"""Logs and metrics: structlog JSON events with request ids and masked phone numbers; Prometheus metrics.

Nothing here runs at import: ``configure_logging`` is called by ``create_app`` and the CLI, and ``Metrics``
is built per app. With several uvicorn workers, ``waitline serve`` points PROMETHEUS_MULTIPROC_DIR at a fresh
folder before the workers start, and ``/metrics`` of any worker reports the sum over all of them.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess

from waitline import phone
from waitline.services.outcomes import Outcome

# Anything that looks like a phone number in international form: masked wherever it appears in an event.
_PHONE_LIKE = re.compile(r"\+\d{7,15}")


def mask_phone_numbers(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: no full phone number leaves the process in a log line."""
    for key, value in event.items():
        if isinstance(value, str) and "+" in value:
            event[key] = _PHONE_LIKE.sub(lambda match: phone.mask(match.group()), value)
    return event


def drop_terminal_colours(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """uvicorn adds an ANSI-coloured copy of some messages; a log line needs only one."""
    event.pop("color_message", None)
    return event


def configure_logging(*, json: bool | None = None, level: int = logging.INFO) -> None:
    """structlog for our events, and the standard library's records (uvicorn, alembic) through it too."""
    if json is None:
        json = not sys.stderr.isatty()
    shared: list[Callable[..., Any]] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        mask_phone_numbers,
        drop_terminal_colours,
    ]
    renderer: Callable[..., Any] = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                # Again, now that tracebacks are text: a database error's message carries its parameters.
                mask_phone_numbers,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log would repeat our request event, with the raw path.
    for name, propagate in (("uvicorn", True), ("uvicorn.error", True), ("uvicorn.access", False)):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = propagate
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs each request's URL at INFO (the notification worker's calls to Twilio): ours are enough.
    logging.getLogger("httpx").setLevel(logging.WARNING)


class Metrics:
    """The app's Prometheus metrics, on a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = "PROMETHEUS_MULTIPROC_DIR" in os.environ
        registry = None if self.multiprocess else self.registry
        if self.multiprocess:
            multiprocess.MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
        self.requests = Histogram(
            "waitline_request_duration_seconds",
            "HTTP request latency by route template, method and status",
            ["route", "method", "status"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.joins = Counter(
            "waitline_joins_total",
            "Joins the queue answered, by outcome: created, replayed, rejected, rate_limited, unavailable",
            ["outcome"],
            registry=registry,
        )
        self.call_next = Counter(
            "waitline_call_next_total",
            "Call-next presses (API and dashboard) by outcome: called, empty, rejected, unavailable",
            ["outcome"],
            registry=registry,
        )
        self.transitions = Counter(
            "waitline_transitions_total",
            "Entry transitions by action and outcome: done, conflict, not_found, unavailable",
            ["action", "outcome"],
            registry=registry,
        )
        self.events = Counter(
            "waitline_events_total",
            "Events the log recorded (committed changes of a queue), by type",
            ["type"],
            registry=registry,
        )
        self.errors = Counter(
            "waitline_errors_total", "Problem responses by HTTP status", ["status"], registry=registry
        )
        self.pool_in_use = Gauge(
            "waitline_db_pool_connections_in_use",
            "Database connections checked out of the pool",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.pool_size = Gauge(
            "waitline_db_pool_size",
            "Database connections the pool may hold (size plus overflow)",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.limiter_fallback = Gauge(
            "waitline_rate_limiter_fallback_active",
            "1 while the shared rate-limit store fails and this process limits on its own",
            registry=registry,
            multiprocess_mode="livemax",
        )
        # Notifications (issue 9): messages by channel, type and outcome (sent, delivered, failed, retried),
        # and how long the oldest message not yet settled has waited (deploy/prometheus/alerts.yml).
        self.messages = Counter(
            "waitline_messages_total",
            "Messages to guests by channel, type and outcome: sent, delivered, failed, retried",
            ["channel", "type", "outcome"],
            registry=registry,
        )
        self.outbox_oldest_age = Gauge(
            "waitline_outbox_oldest_age_seconds",
            "Age of the oldest outbox message not yet sent, failed or skipped (0 when none waits)",
            registry=registry,
            multiprocess_mode="max",
        )
        # The calibrated wait range (issue 10): how often it held, and what became of each join's quote.
        self.quote_coverage = Gauge(
            "waitline_wait_quote_coverage",
            "Share of seated parties whose wait fell inside the range quoted at joining, over the calibrated "
            "estimate's history (8 weeks), by location; the target is 0.8",
            ["restaurant_id"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.quotes = Counter(
            "waitline_wait_quotes_total",
            "Joins' quotes written by the background task, by outcome: recorded, dropped (queue full), "
            "unavailable, failed; a quote that fails never fails its join",
            ["outcome"],
            registry=registry,
        )


class MessageMetrics:
    """The notification worker's observer: counts messages, exports the outbox's age."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def message(self, *, channel: str, kind: str, outcome: str) -> None:
        self._metrics.messages.labels(channel, kind, outcome).inc()

    def outbox_age(self, seconds: float) -> None:
        self._metrics.outbox_oldest_age.set(seconds)


# The ``queue.*`` log event of each use case's action, when no request is there to carry it.
_LOG_EVENTS = {
    "join": "queue.join",
    "call_next": "queue.call_next",
    "pause": "queue.pause",
    "resume": "queue.resume",
}
_TRANSITIONS = frozenset({"seat", "no-show", "cancel", "leave"})


class RequestOutcome:
    """What the use case a request ran did, for that request's one log event (web/telemetry.py): one line
    per request instead of a request line and a ``queue.*`` line, each rendered and written on its own."""

    __slots__ = ("fields", "open")

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        # Until the request's event is written; anything observed after (a task the request started) is
        # logged on its own.
        self.open = True


_REQUEST_OUTCOME: ContextVar[RequestOutcome | None] = ContextVar("waitline_request_outcome", default=None)


@contextmanager
def request_outcome() -> Iterator[RequestOutcome]:
    """Within: the use case's outcome goes to the request's event, not to a ``queue.*`` event of its own."""
    outcome = RequestOutcome()
    token = _REQUEST_OUTCOME.set(outcome)
    try:
        yield outcome
    finally:
        outcome.open = False
        _REQUEST_OUTCOME.reset(token)


class OutcomeRecorder:
    """Counts and logs each use case's outcome (an observer of the services): one metric increment per use
    case, whichever page or API route ran it; its fields go into the request's log event, or into a
    ``queue.*`` event of their own off a request (background tasks, the command line)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._log = structlog.get_logger("waitline.queue")

    def observe(self, outcome: Outcome) -> None:
        if outcome.action == "join":
            self._metrics.joins.labels(outcome.result).inc()
        elif outcome.action == "call_next":
            self._metrics.call_next.labels(outcome.result).inc()
        elif outcome.action in _TRANSITIONS:
            self._metrics.transitions.labels(outcome.action, outcome.result).inc()
        elif outcome.action == "quote":
            quotes = outcome.fields.get("quotes", 1)
            self._metrics.quotes.labels(outcome.result).inc(quotes if isinstance(quotes, int) else 1)
        elif outcome.action == "calibrate" and isinstance(coverage := outcome.fields.get("coverage"), float):
            self._metrics.quote_coverage.labels(str(outcome.restaurant_id)).set(coverage)
        for event in outcome.events:
            self._metrics.events.labels(event.type.value).inc()
        fields: dict[str, Any] = {"outcome": outcome.result, **outcome.fields}
        if outcome.restaurant_id is not None:
            fields["restaurant_id"] = str(outcome.restaurant_id)
        entry = outcome.entry
        if entry is not None:
            fields.update(entry_id=str(entry.id), token=entry.token_number)
        request = _REQUEST_OUTCOME.get()
        if request is not None and request.open and "operation" not in request.fields:
            # The request's own ``status`` is its HTTP status: the entry's is ``entry_status`` there.
            if entry is not None:
                fields["entry_status"] = entry.status.value
            request.fields.update(operation=outcome.action, **fields)
            return
        if entry is not None:
            fields["status"] = entry.status.value
        if outcome.action in _TRANSITIONS:
            self._log.info("queue.transition", action=outcome.action, **fields)
        else:
            self._log.info(_LOG_EVENTS.get(outcome.action, f"queue.{outcome.action}"), **fields)
