"""Secrets: staff API tokens, staff passwords and session cookies.

API tokens and session secrets are 256 random bits; only their SHA-256 is stored. A slow hash buys nothing
for secrets this long (no dictionary to try), and a fast one keeps the per-request check cheap.

Passwords are people's, so they get argon2id with the OWASP Password Storage Cheat Sheet's parameters
(m=19 MiB, t=2, p=1). Verifying costs tens of milliseconds of CPU: callers run it in a thread.
"""

from __future__ import annotations

import functools
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TOKEN_PREFIX = "wl_"  # noqa: S105 (a public prefix that makes leaked tokens easy to scan for)

# OWASP: "Use Argon2id with a minimum configuration of 19 MiB of memory, an iteration count of 2, and 1 degree
# of parallelism."
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_secret() -> str:
    return secrets.token_urlsafe(32)


def new_password() -> str:
    """A generated staff password: 96 random bits, easy to type from a printout."""
    return secrets.token_urlsafe(12)


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher(
        time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_PARALLELISM
    )


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than today's: rehash it at the next sign-in."""
    return _hasher().check_needs_rehash(password_hash)


@functools.cache
def unknown_user_hash() -> str:
    """Verified against when the email has no account, so that both cases take the same time."""
    return hash_password(secrets.token_urlsafe(16))
