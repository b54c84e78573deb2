"""The notification worker: claims due messages from the outbox, sends them, records what happened.

Messages are enqueued by the events that cause them, in the same transaction (store/outbox.py). The worker
claims a batch (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), sends one message
at a time in enqueue order, and records each under its claim. A provider that says "later" (5xx, 429, a
timeout) pauses this worker for the backoff and hands the rest of the batch back untried, so that when the
provider is back the messages go out in the order they were enqueued. After ``max_attempts`` the message is
failed, with the reason. Change signals only wake the worker; it polls as well, so a lost signal costs at
most ``poll_seconds``.

What a crash between the provider's answer and the record costs is in CONCURRENCY_DESIGN.md section 14:
the next claim finds the message in doubt and asks the provider whether it arrived before sending again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

import structlog

from waitline import mail, phone
from waitline.config import Settings
from waitline.domain.message import Accepted, Message, MessageKind, Refused, SendResult, TryLater
from waitline.message_texts import default_text, fill, subject
from waitline.push import Subscription, WebPush
from waitline.services.outcomes import Outcome
from waitline.services.pushes import Pushes
from waitline.sms import TwilioAccount, TwilioSms
from waitline.store import outbox, pushes
from waitline.store.engine import Database

_log = structlog.get_logger("waitline.notify")


class SmsChannel(Protocol):
    async def send(self, *, to: str, body: str) -> SendResult: ...

    async def find_sent(
        self, *, to: str, body: str, since: datetime, exclude: Collection[str]
    ) -> str | TryLater | None: ...

    async def close(self) -> None: ...


# How often a worker looks for holds that ran out.
SWEEP_SECONDS = 5.0
# How often a worker reads the outbox's oldest age for the metric (a scrape every 15 s or so reads it).
AGE_SECONDS = 5.0


class MailChannel(Protocol):
    async def send(self, *, to: str, subject: str, body: str, message_id: str) -> SendResult: ...


class PushChannel(Protocol):
    async def send(self, *, subscription: Subscription, title: str, body: str, url: str) -> SendResult: ...


class MessageObserver(Protocol):
    def message(self, *, channel: str, kind: str, outcome: str) -> None: ...

    def outbox_age(self, seconds: float) -> None: ...


class Unobserved:
    def message(self, *, channel: str, kind: str, outcome: str) -> None:
        pass

    def outbox_age(self, seconds: float) -> None:
        pass


@dataclass(frozen=True)
class WorkerPolicy:
    batch: int = 10
    # A claim holds its batch this long; a worker never starts a send it could not finish within it.
    lease_seconds: float = 120.0
    send_timeout_seconds: float = 10.0
    poll_seconds: float = 1.0
    max_attempts: int = 10
    backoff_seconds: float = 2.0
    backoff_max_seconds: float = 300.0
    # Links in the texts: WAITLINE_PUBLIC_URL + the guest's page.
    public_url: str = ""
    # The right-hand side of the emails' Message-IDs (the host of WAITLINE_PUBLIC_URL).
    mail_domain: str = ""

    def backoff(self, attempts: int) -> float:
        """The wait after the ``attempts``-th failed attempt: 2 s, 4 s, 8 s ... up to the maximum."""
        return float(min(self.backoff_max_seconds, self.backoff_seconds * 2 ** max(0, attempts - 1)))


class _Pause(Exception):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


class Notifier:
    def __init__(
        self,
        *,
        database: Database,
        sms: SmsChannel | None,
        policy: WorkerPolicy,
        observer: MessageObserver | None = None,
        sweep: Callable[[], Awaitable[int]] | None = None,
        mail: MailChannel | None = None,
        push: PushChannel | None = None,
    ) -> None:
        self._database = database
        self._mail = mail
        self._push = push
        # Run now and then beside the sends: the hold window's expiry (services/holds.py).
        self._sweep = sweep
        self._swept_at = 0.0
        self._aged_at = 0.0
        self._sms = sms
        self._policy = policy
        self._observer = observer or Unobserved()
        self._wake = asyncio.Event()
        self._backlog = False  # the last claim found messages: more are likely due

    # An Observer of the queue's use cases: a committed event may have enqueued messages.
    def observe(self, outcome: Outcome) -> None:
        if outcome.events:
            self._wake.set()

    def sweep_with(self, sweep: Callable[[], Awaitable[int]]) -> None:
        self._sweep = sweep

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        if self._sms is not None:
            await self._sms.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: claim, send, record; wait for a wake-up or the poll interval when idle."""
        _log.info("notify.worker_started", sms=self._sms is not None)
        while not stop.is_set():
            self._wake.clear()  # a wake-up from here on starts the next round at once
            await self._sweep_now_and_then()
            try:
                if await self.run_once():
                    continue
            except _Pause as pause:
                await _sleep(stop, pause.seconds)
                continue
            except Exception:  # the worker must outlive a database outage or a provider's surprise
                _log.warning("notify.worker_error", exc_info=True)
            await _first_of(stop, self._wake, self._policy.poll_seconds)
        _log.info("notify.worker_stopped")

    async def _sweep_now_and_then(self) -> None:
        if self._sweep is None or time.monotonic() - self._swept_at < SWEEP_SECONDS:
            return
        self._swept_at = time.monotonic()
        try:
            await self._sweep()
        except Exception:
            _log.warning("notify.sweep_failed", exc_info=True)

    async def run_once(self) -> int:
        """One claim and its sends; the number of messages claimed. Raises _Pause when the provider said
        "later"."""
        if time.monotonic() - self._aged_at >= AGE_SECONDS:
            self._aged_at = time.monotonic()
            async with self._database.snapshot() as connection:
                self._observer.outbox_age(await outbox.oldest_age_seconds(connection=connection))
        if not self._backlog:
            # Idle: look before claiming (on SQLite a claim takes the write lock). With a backlog (the last
            # claim found messages) claim at once: one round trip fewer per batch.
            async with self._database.snapshot() as connection:
                if not await outbox.any_due(connection=connection):
                    return 0
        claim_id = uuid.uuid4().hex
        deadline = time.monotonic() + self._policy.lease_seconds - 1.0
        # The claim is one statement (its own transaction on PostgreSQL); what the texts are made of is read
        # after it, by a plain read.
        async with self._database.single_statement() as connection:
            batch = await outbox.claim(
                connection=connection,
                claim_id=claim_id,
                limit=self._policy.batch,
                lease_seconds=self._policy.lease_seconds,
            )
        self._backlog = bool(batch)
        try:
            async with self._database.snapshot() as connection:
                contexts = await outbox.contexts(connection=connection, ids=[m.id for m in batch])
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._release(batch, claim_id))
            raise
        for index, message in enumerate(batch):
            if time.monotonic() + self._policy.send_timeout_seconds * 2 > deadline:
                await self._release(batch[index:], claim_id)
                break
            try:
                await self._deliver(message, contexts.get(message.id), claim_id)
            except _Pause:
                await self._release(batch[index + 1 :], claim_id)
                raise
            except BaseException:
                # Cancelled or a database failure mid-batch: the untried rest goes back at once (what was
                # being sent stays claimed, and is in doubt once the lease runs out).
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._release(batch[index + 1 :], claim_id))
                raise
        return len(batch)

    async def _release(self, messages: list[Message], claim_id: str) -> None:
        if messages:
            async with self._database.single_statement() as connection:
                await outbox.release(
                    connection=connection, message_ids=[m.id for m in messages], claim_id=claim_id
                )

    async def _deliver(self, message: Message, context: outbox.Context | None, claim_id: str) -> None:
        if message.channel == "push":
            if self._push is None:
                await self._settle(
                    message, claim_id, "skipped", "web push is not configured", attempted=False
                )
                return
        elif message.channel == "email":
            if self._mail is None:
                await self._settle(
                    message, claim_id, "skipped", "no SMTP server is configured", attempted=False
                )
                return
        elif message.channel != "sms" or self._sms is None:
            await self._settle(message, claim_id, "skipped", "no SMS provider is configured", attempted=False)
            return
        if context is None:
            await self._settle(message, claim_id, "skipped", "the entry is gone", attempted=False)
            return
        if message.kind is MessageKind.REMINDER and (context.status != "called" or context.confirmed):
            await self._settle(message, claim_id, "skipped", "no longer needed", attempted=False)
            return
        if not context.enabled:
            await self._settle(
                message, claim_id, "skipped", "switched off by the restaurant", attempted=False
            )
            return
        if context.opted_out:
            await self._settle(message, claim_id, "skipped", "the number opted out (STOP)", attempted=False)
            return
        link = f"{self._policy.public_url.rstrip('/')}/{context.slug}/e/{message.entry_id}"
        if context.chose_language:
            link += f"?lang={context.language}"  # the page opens in the language the guest joined in
        template = context.own_text or default_text(message.kind, context.language)
        body = fill(template, outbox.context_values(context, link=link), context.language)
        if message.channel == "email":
            await self._deliver_mail(message, context, body, claim_id)
            return
        if message.channel == "push":
            await self._deliver_push(message, context, body, link, claim_id)
            return
        assert self._sms is not None
        if message.in_doubt_since is not None:
            # The last attempt's outcome is unknown (its worker died, or the request timed out): ask first.
            async with self._database.snapshot() as connection:
                known = await outbox.known_provider_ids(connection=connection, recipient=message.recipient)
            found = await self._sms.find_sent(
                to=message.recipient, body=body, since=message.in_doubt_since, exclude=known
            )
            if isinstance(found, TryLater):
                await self._later(message, claim_id, TryLater(found.reason, maybe_sent=True))
                return
            if isinstance(found, str):
                await self._sent(message, claim_id, found, attempted=False, reconciled=True)
                return
        await self._record(message, claim_id, await self._sms.send(to=message.recipient, body=body))

    async def _deliver_mail(
        self, message: Message, context: outbox.Context, body: str, claim_id: str
    ) -> None:
        """By email: an email in doubt is sent again (SMTP cannot be asked), with the same Message-ID."""
        assert self._mail is not None
        host = self._policy.mail_domain or "waitline.invalid"
        result = await self._mail.send(
            to=message.recipient,
            subject=subject(message.kind, context.language, restaurant=context.restaurant_name),
            body=body,
            message_id=f"<outbox-{message.id}@{host}>",
        )
        await self._record(message, claim_id, result)

    async def _deliver_push(
        self, message: Message, context: outbox.Context, body: str, link: str, claim_id: str
    ) -> None:
        """To the entry's current subscription; a push in doubt is sent again (no service can be asked)."""
        assert self._push is not None
        async with self._database.snapshot() as connection:
            found = await pushes.subscription(connection=connection, entry_id=message.entry_id)
        if found is None:
            await self._settle(message, claim_id, "skipped", "no push subscription", attempted=False)
            return
        result = await self._push.send(
            subscription=Subscription(*found),
            title=subject(message.kind, context.language, restaurant=context.restaurant_name),
            body=body,
            url=link,
        )
        await self._record(message, claim_id, result)

    async def _record(self, message: Message, claim_id: str, result: SendResult) -> None:
        """What the provider answered, under this worker's claim."""
        if isinstance(result, Accepted):
            await self._sent(message, claim_id, result.provider_id, attempted=True, reconciled=False)
        elif isinstance(result, Refused):
            await self._settle(message, claim_id, "failed", result.reason, attempted=True)
        else:
            await self._later(message, claim_id, result)

    async def _sent(
        self, message: Message, claim_id: str, provider_id: str, *, attempted: bool, reconciled: bool
    ) -> None:
        async with self._database.single_statement() as connection:
            held = await outbox.record_sent(
                connection=connection,
                message_id=message.id,
                claim_id=claim_id,
                provider_id=provider_id,
                attempted=attempted,
            )
        self._observer.message(channel=message.channel, kind=message.kind.value, outcome="sent")
        _log.info(
            "notify.sent",
            message_id=message.id,
            kind=message.kind.value,
            channel=message.channel,
            to=_masked(message),
            attempts=message.attempts + int(attempted),
            reconciled=reconciled,
            claim_held=held,
        )

    async def _settle(
        self, message: Message, claim_id: str, state: str, reason: str, *, attempted: bool
    ) -> None:
        async with self._database.single_statement() as connection:
            await outbox.settle(
                connection=connection,
                message_id=message.id,
                claim_id=claim_id,
                state=state,
                reason=reason,
                attempted=attempted,
            )
        if state == "failed":
            self._observer.message(channel=message.channel, kind=message.kind.value, outcome="failed")
        _log.info(
            f"notify.{state}",
            message_id=message.id,
            kind=message.kind.value,
            channel=message.channel,
            to=_masked(message),
            reason=reason,
        )

    async def _later(self, message: Message, claim_id: str, result: TryLater) -> None:
        attempts = message.attempts + 1
        if attempts >= self._policy.max_attempts:
            await self._settle(
                message,
                claim_id,
                "failed",
                f"gave up after {attempts} attempts: {result.reason}",
                attempted=True,
            )
            return
        delay = self._policy.backoff(attempts)
        if result.after_seconds is not None:
            delay = min(self._policy.backoff_max_seconds, max(delay, result.after_seconds))
        async with self._database.single_statement() as connection:
            await outbox.record_retry(
                connection=connection,
                message_id=message.id,
                claim_id=claim_id,
                reason=result.reason,
                delay_seconds=delay,
                maybe_sent=result.maybe_sent,
            )
        self._observer.message(channel=message.channel, kind=message.kind.value, outcome="retried")
        _log.info(
            "notify.retry",
            message_id=message.id,
            kind=message.kind.value,
            to=_masked(message),
            attempts=attempts,
            reason=result.reason,
            delay_seconds=delay,
        )
        raise _Pause(delay)


def _masked(message: Message) -> str:
    if message.channel == "push":
        return "push endpoint"  # a capability URL: never logged
    return mail.mask(message.recipient) if message.channel == "email" else phone.mask(message.recipient)


async def _first_of(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def build_notifier(
    settings: Settings,
    *,
    database: Database,
    observer: MessageObserver | None,
    sweep: Callable[[], Awaitable[int]] | None = None,
) -> Notifier:
    """The worker as settings say: texts through Twilio when its account is configured."""
    sms = None
    if settings.twilio_configured:
        assert settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from
        public = (settings.public_url or "").rstrip("/")
        sms = TwilioSms(
            TwilioAccount(
                account_sid=settings.twilio_account_sid,
                auth_token=settings.twilio_auth_token.get_secret_value(),
                sender=settings.twilio_from,
                api_url=settings.twilio_api_url,
                status_callback=f"{public}/webhooks/twilio/status" if public else None,
            ),
            timeout_seconds=settings.twilio_timeout_seconds,
        )
    mailer = None
    if settings.mail_configured and settings.smtp_url and settings.mail_from:
        mailer = mail.SmtpMail(
            mail.SmtpServer.from_url(settings.smtp_url.get_secret_value()),
            sender=settings.mail_from,
            timeout_seconds=settings.twilio_timeout_seconds,
        )
    web_push = None
    if settings.web_push:
        web_push = WebPush(
            private_key=Pushes(database=database).private_key,
            subject=settings.push_contact,
            timeout_seconds=settings.twilio_timeout_seconds,
        )
    policy = WorkerPolicy(
        batch=settings.notify_batch,
        lease_seconds=settings.notify_lease_seconds,
        send_timeout_seconds=settings.twilio_timeout_seconds,
        poll_seconds=settings.notify_poll_seconds,
        max_attempts=settings.notify_max_attempts,
        backoff_seconds=settings.notify_backoff_seconds,
        backoff_max_seconds=settings.notify_backoff_max_seconds,
        public_url=settings.public_url or "",
        mail_domain=urlsplit(settings.public_url or "").hostname or "",
    )
    return Notifier(
        database=database, sms=sms, policy=policy, observer=observer, sweep=sweep, mail=mailer, push=web_push
    )
