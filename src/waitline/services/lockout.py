"""How failed sign-ins slow down guessing: the policy, apart from where its counts are kept.

Counted per account and client address (as the per-address limits count it: an IPv6 client by its network),
so that a stranger's guesses slow the stranger down, never the real person signing in from elsewhere (OWASP
Authentication Cheat Sheet: a lockout that anyone can trigger is a denial of service). Per address across all
accounts, ``WAITLINE_RATE_LIMIT_SIGN_IN_PER_IP`` (services/accounts.py) slows spraying. And an account-wide
brake bounds the guesses of many addresses together: once an account has had ``LOGIN_BRAKE_FAILURES`` failures
within ``LOGIN_BRAKE_WINDOW``, each address gets only ``LOGIN_BRAKED_ATTEMPTS`` in a row (then the longest
lockout), so a botnet gets a couple of guesses per address while the right password from a new address still
gets in.
"""

from __future__ import annotations

from datetime import timedelta

# Five attempts in a row may fail freely; from the fifth on, each failure locks that address out of that
# account for twice as long as the one before (30 s, 1 min, 2 min, ... at most 15 min). A run of failures is
# forgotten after a day.
LOGIN_FREE_ATTEMPTS = 5
LOGIN_FIRST_LOCKOUT = timedelta(seconds=30)
LOGIN_MAX_LOCKOUT = timedelta(minutes=15)
LOGIN_FORGET_AFTER = timedelta(days=1)
LOGIN_BRAKE_FAILURES = 20
LOGIN_BRAKE_WINDOW = timedelta(hours=1)
LOGIN_BRAKED_ATTEMPTS = 2


def login_lockout(attempt_number: int, *, account_failures: int = 0) -> timedelta | None:
    """How long a failure of this attempt (1 = this address's first in a row for this account) locks this
    address out of the account; None: not at all. ``account_failures``: the account's failures from every
    address within ``LOGIN_BRAKE_WINDOW``, this attempt's included."""
    if account_failures >= LOGIN_BRAKE_FAILURES and attempt_number >= LOGIN_BRAKED_ATTEMPTS:
        return LOGIN_MAX_LOCKOUT
    if attempt_number < LOGIN_FREE_ATTEMPTS:
        return None
    doublings = min(attempt_number - LOGIN_FREE_ATTEMPTS, 10)
    return min(LOGIN_FIRST_LOCKOUT * (1 << doublings), LOGIN_MAX_LOCKOUT)
