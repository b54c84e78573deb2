"""Web push to guests (RFC 8030/8291/8292) with pywebpush: VAPID-signed, aes128gcm-encrypted.

The VAPID key pair is made once and kept in the database (``server_secret`` "vapid_private_key", as the
base64url DER that pywebpush reads); the public key is the browser's ``applicationServerKey``. ``send``
answers Accepted (201), Refused (404/410: the subscription is gone; other 4xx) or TryLater (429, 5xx, no
connection, a timeout). pywebpush is synchronous (requests): each send runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pywebpush import WebPushException, webpush  # type: ignore[import-untyped]
from requests import RequestException, Timeout

from waitline.domain.message import Accepted, Refused, SendResult, TryLater

VAPID_SECRET = "vapid_private_key"  # noqa: S105 (a name, not a secret)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_private_key() -> str:
    """A fresh VAPID private key: P-256, PKCS#8 DER, base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    return _b64url(
        key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def public_key(private_key: str) -> str:
    """The applicationServerKey for ``private_key``: the uncompressed P-256 point, base64url."""
    der = base64.urlsafe_b64decode(private_key + "=" * (-len(private_key) % 4))
    key = serialization.load_der_private_key(der, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return _b64url(
        key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )


@dataclass(frozen=True)
class Subscription:
    """What the browser's PushManager.subscribe() gave: where to post, and the keys to encrypt for."""

    endpoint: str
    p256dh: str
    auth: str

    def valid(self) -> bool:
        parts = urlsplit(self.endpoint)
        return parts.scheme in ("https", "http") and bool(parts.netloc) and bool(self.p256dh and self.auth)


class WebPush:
    def __init__(
        self, *, private_key: Callable[[], Awaitable[str]], subject: str, timeout_seconds: float
    ) -> None:
        self._private_key = private_key  # read from the database on first use
        self._subject = subject  # mailto: or https: contact, as RFC 8292 asks
        self._timeout = timeout_seconds

    async def send(self, *, subscription: Subscription, title: str, body: str, url: str) -> SendResult:
        private_key = await self._private_key()
        payload = json.dumps({"title": title, "body": body, "url": url})
        info = {
            "endpoint": subscription.endpoint,
            "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
        }
        try:
            response = await asyncio.to_thread(
                webpush,
                info,
                data=payload,
                vapid_private_key=private_key,
                vapid_claims={"sub": self._subject},
                content_encoding="aes128gcm",
                timeout=self._timeout,
                ttl=3600,
            )
        except WebPushException as error:
            status = error.response.status_code if error.response is not None else None
            if status is None:
                return TryLater(f"push: {error.message}")
            if status == 429 or status >= 500:
                return TryLater(f"push {status}")
            return Refused(f"push {status}" + (": subscription gone" if status in (404, 410) else ""))
        except Timeout:
            return TryLater("push timeout")
        except RequestException as error:
            return TryLater(f"push: {type(error).__name__}")
        return Accepted(str(response.headers.get("Location") or f"push {response.status_code}"))

    async def find_sent(
        self, *, to: str, body: str, since: datetime, exclude: Collection[str]
    ) -> str | TryLater | None:
        return None  # a push service cannot be asked: a push in doubt is sent again

    async def close(self) -> None:
        pass
