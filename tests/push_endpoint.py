"""A local web push endpoint (a push service's stand-in) that checks what a real one checks and reads what
only the browser could: the VAPID JWT (RFC 8292: ES256 signature with the ``k`` public key, ``aud`` = the
endpoint's origin, ``exp`` within 24 h) and the aes128gcm payload (RFC 8291), decrypted with the
subscription's private key. It records each push it accepted, decrypted; ``status`` is what it answers."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from waitline.push import Subscription


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class PushEndpoint:
    base_url: str
    status: int = 201
    received: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why a request failed the checks
    # The browser's side of the subscription: its private key and auth secret.
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self, name: str = "guest") -> Subscription:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return Subscription(f"{self.base_url}/push/{name}", b64url(point), b64url(self.auth))

    def check(self, path: str, headers: Any, body: bytes) -> dict[str, Any]:
        scheme, _, params = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError("no vapid authorization")
        fields = dict(part.strip().split("=", 1) for part in params.split(","))
        token, key = fields["t"], fields["k"]
        header_b64, claims_b64, signature_b64 = token.split(".")
        if json.loads(b64url_decode(header_b64))["alg"] != "ES256":
            raise ValueError("not ES256")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
        raw = b64url_decode(signature_b64)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if bad
        claims = json.loads(b64url_decode(claims_b64))
        if claims["aud"] != self.base_url:
            raise ValueError(f"aud {claims['aud']!r}")
        if not time.time() < claims["exp"] <= time.time() + 24 * 3600:
            raise ValueError("exp")
        if headers.get("Content-Encoding") != "aes128gcm":
            raise ValueError("content encoding")
        plain = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"
        )
        return {"path": path, "key": key, "sub": claims.get("sub"), **json.loads(plain)}


def _handler(endpoint: PushEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                push = endpoint.check(self.path, self.headers, body)
            except Exception as error:  # any failed check: what a push service answers
                endpoint.refused.append(f"{type(error).__name__}: {error}")
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = endpoint.status
            if status == 201:
                endpoint.received.append(push)
            self.send_response(status)
            self.send_header("Location", f"{endpoint.base_url}/message/{len(endpoint.received)}")
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@contextmanager
def push_endpoint() -> Iterator[PushEndpoint]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(PushEndpoint("")))
    endpoint = PushEndpoint(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
