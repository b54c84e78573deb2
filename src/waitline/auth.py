"""Staff API tokens: 256 random bits shown once; only their SHA-256 is stored.

A slow password hash buys nothing for secrets this long (no dictionary to try), and a fast one keeps the
per-request check cheap.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "wl_"  # noqa: S105 (a public prefix that makes leaked tokens easy to scan for)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
