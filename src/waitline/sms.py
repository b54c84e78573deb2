"""Texts through Twilio's Messages API, over httpx: form-encoded, HTTP basic auth (account SID, auth token).

``send`` answers Accepted (201, with the message SID), TryLater (5xx, 429 with its Retry-After, a timeout,
no connection) or Refused (any other 4xx: Twilio's error code and message). Twilio's Messages API takes no
idempotency key, so a worker that died between sending and recording asks ``find_sent`` (the Messages list,
filtered by To, From and the day) whether the message got there before sending it again.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from waitline.domain.message import Accepted, Refused, SendResult, TryLater

TWILIO_API_URL = "https://api.twilio.com"


@dataclass(frozen=True)
class TwilioAccount:
    account_sid: str
    auth_token: str
    sender: str  # WAITLINE_TWILIO_FROM: a Twilio number (E.164) or a messaging service SID (MG...)
    api_url: str = TWILIO_API_URL
    status_callback: str | None = None  # where Twilio posts delivery states (WAITLINE_PUBLIC_URL + path)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class TwilioSms:
    def __init__(self, account: TwilioAccount, *, timeout_seconds: float) -> None:
        self._account = account
        self._messages = (
            f"{account.api_url.rstrip('/')}/2010-04-01/Accounts/{account.account_sid}/Messages.json"
        )
        self._client = httpx.AsyncClient(
            auth=(account.account_sid, account.auth_token), timeout=timeout_seconds
        )

    async def send(self, *, to: str, body: str) -> SendResult:
        sender = self._account.sender
        form = {
            "To": to,
            "Body": body,
            ("MessagingServiceSid" if sender.startswith("MG") else "From"): sender,
        }
        if self._account.status_callback:
            form["StatusCallback"] = self._account.status_callback
        try:
            response = await self._client.post(self._messages, data=form)
        except httpx.TimeoutException:
            return TryLater("timeout", maybe_sent=True)
        except httpx.TransportError as error:
            # Refused before the request was written (no connection) cannot have been sent; anything later
            # might have been.
            return TryLater(
                f"transport: {type(error).__name__}", maybe_sent=not isinstance(error, httpx.ConnectError)
            )
        if response.status_code in (200, 201):
            try:
                return Accepted(str(response.json()["sid"]))
            except (ValueError, KeyError, TypeError):
                return TryLater("201 without a message sid", maybe_sent=True)
        if response.status_code == 429:
            return TryLater("429 too many requests", _retry_after(response.headers.get("Retry-After")))
        if response.status_code >= 500:
            return TryLater(
                f"{response.status_code} from the provider", _retry_after(response.headers.get("Retry-After"))
            )
        return Refused(_twilio_error(response))

    async def find_sent(
        self, *, to: str, body: str, since: datetime, exclude: Collection[str]
    ) -> str | TryLater | None:
        """The SID of a message with this body sent to ``to`` at or after ``since`` that we have not recorded
        yet, None if there is none, or TryLater if Twilio cannot say now."""
        params = {"To": to, "DateSent>": (since - timedelta(days=1)).strftime("%Y-%m-%d"), "PageSize": "100"}
        if not self._account.sender.startswith("MG"):
            params["From"] = self._account.sender
        try:
            response = await self._client.get(self._messages, params=params)
        except httpx.TransportError as error:
            return TryLater(f"listing messages: {type(error).__name__}")
        if response.status_code != 200:
            return TryLater(f"listing messages: {response.status_code}")
        for message in response.json().get("messages", []):
            created = message.get("date_created")
            if message.get("body") != body or message.get("sid") in exclude or not created:
                continue
            if email.utils.parsedate_to_datetime(created) >= since - timedelta(seconds=5):
                return str(message["sid"])
        return None

    async def close(self) -> None:
        await self._client.aclose()


def _twilio_error(response: httpx.Response) -> str:
    try:
        payload = response.json()
        return f"{response.status_code} twilio error {payload.get('code')}: {payload.get('message')}"
    except ValueError:
        return f"{response.status_code} from the provider"


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's X-Twilio-Signature: base64(HMAC-SHA1(auth token, the full URL then each POST parameter's
    name and value, sorted by name (then value), with no separators))."""
    data = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def signed_by_twilio(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None
) -> bool:
    if not signature:
        return False
    return hmac.compare_digest(twilio_signature(auth_token, url, params), signature)


# Replies a guest can text back, upper-cased and stripped; anything else is shown to staff as written.
REPLY_KEYWORDS = {
    "C": "cancel",
    "CANCEL": "cancel",
    "1": "confirm",
    "OMW": "confirm",
    "ON MY WAY": "confirm",
    "L": "late",
    "LATE": "late",
    "STOP": "stop",
    "START": "start",
}
