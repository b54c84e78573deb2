"""Settings from the environment (``WAITLINE_*``), read in ``create_app`` or the CLI, never at import."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

from waitline.ratelimit import RatePolicy

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_DATABASE_URL = "sqlite:///var/waitline.sqlite3"
# The connections all the workers of one instance hold by default, and the bounds of each one's share.
DEFAULT_POOL_BUDGET = 40
DEFAULT_POOL_BOUNDS = (4, 20)

_ASYNC_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


def async_database_url(plain: str) -> URL:
    """``postgresql://…`` or ``sqlite:///…`` as the async SQLAlchemy URL for it; explicit drivers are kept."""
    url = make_url(plain)
    if "+" not in url.drivername:
        try:
            url = url.set(drivername=_ASYNC_DRIVERS[url.drivername])
        except KeyError:
            raise ValueError(
                f"unsupported database {url.drivername!r}: use postgresql:// or sqlite:///"
            ) from None
    return url


def ipaddress_networks(cidrs: str) -> tuple[IPNetwork, ...]:
    """``"10.0.0.0/8, 127.0.0.1"`` -> networks; raises ValueError for anything else."""
    return tuple(
        ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs.split(",") if cidr.strip()
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WAITLINE_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    # What sits between waitline and PostgreSQL: "none" (a direct connection) or "pgbouncer" (PgBouncer in
    # transaction mode: no prepared statement outlives its protocol exchange, no startup parameters, the
    # session settings are set per transaction).
    database_pooler: Literal["none", "pgbouncer"] = "none"
    # Each process's LISTEN/NOTIFY connection (the live pages' change signals) needs a session of its own: a
    # direct PostgreSQL URL. Unset: the database URL (which must then be direct).
    listen_database_url: str | None = None
    # Every use case runs in one transaction that gives up after this long.
    transaction_timeout_seconds: float = Field(default=5.0, gt=0)
    # Connections each process keeps open (opened at start, never closed under load). Unset: from the
    # number of worker processes (``waitline serve --workers``), DEFAULT_POOL_BUDGET shared among them.
    pool_size: int | None = Field(default=None, ge=1)
    # Connections opened beyond the pool when it is busy and closed again after one use: churn under load.
    pool_max_overflow: int = Field(default=0, ge=0)
    # PostgreSQL: concurrent joins of one restaurant within a process go to the database together, up to this
    # many in one statement and transaction (CONCURRENCY_DESIGN.md, "Coalesced joins"). Off by default: on a
    # quiet machine it measured slower than one by one (0.63-0.93x at 64 clients on one restaurant).
    join_coalescing: bool = False
    join_batch_max: int = Field(default=32, ge=1, le=64)
    # How many processes share the database (``waitline serve --workers`` sets it for its workers).
    workers: int = Field(default=1, ge=1)
    # How long a request may wait for a free database connection before it is turned away with 503.
    pool_timeout_seconds: float = Field(default=2.0, gt=0)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    graceful_shutdown_seconds: float = Field(default=10.0, ge=0)
    # After SIGTERM, /readyz answers 503 (and a Unix socket's path is removed) this long before the server
    # stops taking connections, so load balancers send new requests elsewhere first.
    shutdown_drain_seconds: float = Field(default=0.0, ge=0)
    # Serve on this Unix socket instead of --host/--port (nginx on the same machine).
    unix_socket: str | None = None
    # The request line and headers: larger heads get 431; a head not complete this long after its first byte
    # (or the connection's opening) gets 408. Which parser uvicorn runs; both keep these limits.
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    header_timeout_seconds: float = Field(default=20.0, gt=0)
    http_implementation: Literal["httptools", "h11"] = "httptools"

    # Joins per client IP and per mobile number per restaurant: "N/second|minute|hour|day" or "off".
    rate_limit_per_ip: str = "20/minute"
    rate_limit_per_mobile: str = "3/hour"
    # Staff sign-in attempts per client IP (each costs an argon2id hash): shared like the join limits.
    rate_limit_sign_in_per_ip: str = "10/minute"
    # The per-address limits count an IPv6 client by its network of this many bits (a subscriber gets a /64).
    rate_limit_ipv6_prefix: int = Field(default=64, ge=32, le=128)
    # Where the limits are counted: empty for the database itself, or redis://host:port/db.
    rate_limit_url: str | None = None
    # Proxies (CIDRs, comma-separated) whose X-Forwarded-For is believed; by default none is.
    trusted_proxies: str = ""
    # When set, GET /metrics needs "Authorization: Bearer <this>".
    metrics_token: SecretStr | None = None
    # JSON log lines; unset: JSON unless stderr is a terminal.
    log_json: bool | None = None
    log_level: str = "INFO"
    # --- the web pages ---
    # The address guests reach this server at (for the QR code), e.g. https://queue.example.com. Unset: the
    # address the request came to.
    public_url: str | None = None
    # Host names (comma-separated) answered besides the public URL's; once either is set, other names get 421.
    allowed_hosts: str = ""
    # Secure cookies: unset means "when the request came over https"; set true behind a TLS-terminating proxy.
    secure_cookies: bool | None = None
    # The IANA time zone whose midnight starts "today" on the staff dashboard.
    time_zone: str = "UTC"
    staff_session_hours: float = Field(default=12.0, gt=0)
    # Live pages: how often each process reads the event log's heads while no change signals arrive (SQLite
    # always; PostgreSQL while its signal connection is down), and while they do (in case one was lost); how
    # often a live page re-reads anyway; at most this many live connections per process; a client that does
    # not take an update within the send timeout is dropped.
    live_poll_seconds: float = Field(default=0.5, gt=0)
    live_recheck_seconds: float = Field(default=5.0, gt=0)
    live_refresh_seconds: float = Field(default=30.0, gt=0)
    live_max_connections: int = Field(default=500, ge=1)
    # ... of which guest streams may use all but the staff reserve, at most so many per client (counted as
    # the per-address limits count it) and so many per restaurant: a flood of one never takes staff's away.
    live_staff_reserve: int = Field(default=50, ge=0)
    live_max_per_client: int = Field(default=20, ge=1)
    live_max_per_restaurant: int = Field(default=250, ge=1)
    live_send_timeout_seconds: float = Field(default=10.0, gt=0)
    live_max_stream_seconds: float = Field(default=600.0, gt=0)

    # --- notifications (issue 9) ---
    # Texts go out through Twilio's Messages API only when the account SID, auth token and sender are set.
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None  # a Twilio number (E.164) or a messaging service SID (MG...)
    twilio_api_url: str = "https://api.twilio.com"
    twilio_timeout_seconds: float = Field(default=10.0, gt=0)
    # Email to guests (issue 9): smtp://user:pass@host:port[?starttls=true] or smtps://...; both needed.
    smtp_url: SecretStr | None = None
    mail_from: str | None = None
    # Web push to guests who opt in on their status page (VAPID keys are made once, kept in the database).
    web_push: bool = False
    # The VAPID "sub" claim push services may write to: mailto:... (default: mailto:WAITLINE_MAIL_FROM's
    # address) or https://...
    web_push_contact: str | None = None
    # `waitline serve` runs the notification worker in each process unless this is false (then run
    # `waitline worker` on its own).
    notify_in_process: bool = True
    notify_poll_seconds: float = Field(default=1.0, gt=0)
    notify_batch: int = Field(default=10, ge=1)
    notify_lease_seconds: float = Field(default=120.0, gt=0)
    notify_max_attempts: int = Field(default=10, ge=1)
    notify_backoff_seconds: float = Field(default=2.0, gt=0)
    notify_backoff_max_seconds: float = Field(default=300.0, gt=0)

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from)

    @property
    def push_contact(self) -> str:
        if self.web_push_contact:
            return self.web_push_contact
        if self.mail_from:
            return "mailto:" + self.mail_from.rsplit("<", 1)[-1].rstrip(">").strip()
        return self.public_url or "mailto:admin@localhost"

    @property
    def mail_configured(self) -> bool:
        return bool(self.smtp_url and self.mail_from)

    @field_validator("database_url", "listen_database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is not None:
            async_database_url(value)
        return value

    @field_validator("listen_database_url")
    @classmethod
    def _postgresql_listen_url(cls, value: str | None) -> str | None:
        if value is not None and async_database_url(value).get_backend_name() != "postgresql":
            raise ValueError("the LISTEN connection is PostgreSQL's: use postgresql://")
        return value

    @model_validator(mode="after")
    def _listen_beside_a_pooler(self) -> Settings:
        if self.database_pooler == "pgbouncer" and not self.is_sqlite and self.listen_database_url is None:
            raise ValueError(
                "WAITLINE_DATABASE_POOLER=pgbouncer needs WAITLINE_LISTEN_DATABASE_URL: a direct PostgreSQL "
                "URL for the live pages' LISTEN connection (PgBouncer's transaction mode would lose it)"
            )
        return self

    @model_validator(mode="after")
    def _room_for_guest_streams(self) -> Settings:
        if self.live_staff_reserve >= self.live_max_connections:
            raise ValueError("WAITLINE_LIVE_STAFF_RESERVE must be below WAITLINE_LIVE_MAX_CONNECTIONS")
        return self

    @field_validator("rate_limit_per_ip", "rate_limit_per_mobile", "rate_limit_sign_in_per_ip")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        RatePolicy.parse(value, name="check")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _known_networks(cls, value: str) -> str:
        ipaddress_networks(value)
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return ipaddress_networks(self.trusted_proxies)

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as Europe/London") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def listen_dsn(self) -> str | None:
        """The plain PostgreSQL URL for the LISTEN connection (asyncpg directly); None on SQLite."""
        if self.is_sqlite:
            return None
        url = async_database_url(self.listen_database_url) if self.listen_database_url else self.async_url
        return url.set(drivername="postgresql").render_as_string(hide_password=False)

    @property
    def pool_connections(self) -> int:
        """The connections this process keeps open: ``pool_size``, or its share of the default budget."""
        if self.pool_size is not None:
            return self.pool_size
        low, high = DEFAULT_POOL_BOUNDS
        return max(low, min(high, DEFAULT_POOL_BUDGET // self.workers))

    @property
    def async_url(self) -> URL:
        return async_database_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.async_url.get_backend_name() == "sqlite"

    def ensure_sqlite_directory(self) -> None:
        """Create the folder of an SQLite file, so the default works in a fresh clone."""
        database = self.async_url.database
        if self.is_sqlite and database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
