"""Email to guests over SMTP with aiosmtplib: ``WAITLINE_SMTP_URL`` and ``WAITLINE_MAIL_FROM``.

``smtp://user:pass@host:port`` (``?starttls=true`` to upgrade the connection), or ``smtps://`` for TLS from
the first byte. ``send`` answers Accepted (250, with the Message-ID), Refused (a 5xx: the server will never
take it; its code and text are the reason) or TryLater (a 4xx, no connection, a timeout). SMTP has no way to
ask whether an earlier attempt arrived, so an email in doubt is sent again (at least once; the Message-ID is
the same each time, so that mail clients can show it once).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from waitline.domain.message import Accepted, Refused, SendResult, TryLater

# Deliberately simple (one @, a dot in the domain, no spaces): the mail server is the real judge.
_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
MAX_ADDRESS = 254


def valid_address(value: str) -> bool:
    return len(value) <= MAX_ADDRESS and _ADDRESS.match(value) is not None


def mask(address: str) -> str:
    """For logs: ``a***@example.com``."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False  # smtps://
    start_tls: bool = False  # ?starttls=true

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("WAITLINE_SMTP_URL must look like smtp://user:pass@host:port or smtps://...")
        query = parse_qs(parts.query)
        smtps = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if smtps else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=smtps,
            start_tls=query.get("starttls", ["false"])[0].lower() in ("1", "true", "yes"),
        )


class SmtpMail:
    def __init__(self, server: SmtpServer, *, sender: str, timeout_seconds: float) -> None:
        self._server = server
        self._sender = sender
        self._timeout = timeout_seconds

    async def send(self, *, to: str, subject: str, body: str, message_id: str) -> SendResult:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = message_id
        message.set_content(body)
        server = self._server
        try:
            await aiosmtplib.send(
                message,
                hostname=server.host,
                port=server.port,
                username=server.username,
                password=server.password,
                use_tls=server.use_tls,
                start_tls=server.start_tls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            return (
                _answer(error.recipients[0].code, error.recipients[0].message)
                if error.recipients
                else (Refused("recipient refused"))
            )
        except aiosmtplib.SMTPResponseException as error:
            return _answer(error.code, error.message)
        except aiosmtplib.SMTPTimeoutError:
            return TryLater("smtp timeout")
        except (aiosmtplib.SMTPException, OSError) as error:
            return TryLater(f"smtp: {type(error).__name__}")
        return Accepted(message_id)

    async def find_sent(
        self, *, to: str, body: str, since: datetime, exclude: Collection[str]
    ) -> str | TryLater | None:
        return None  # SMTP cannot say: an email in doubt is sent again

    async def close(self) -> None:
        pass


def _answer(code: int, text: str) -> SendResult:
    reason = f"smtp {code}: {text}"
    return Refused(reason) if code >= 500 else TryLater(reason)
