"""How long failed sign-ins lock an email out: the policy, apart from where its counts are kept."""

from __future__ import annotations

from datetime import timedelta

# Five attempts in a row may fail freely; from the fifth on, each failure locks the email out for twice as
# long as the one before (30 s, 1 min, 2 min, ... at most 15 min). A run of failures is forgotten after a day.
LOGIN_FREE_ATTEMPTS = 5
LOGIN_FIRST_LOCKOUT = timedelta(seconds=30)
LOGIN_MAX_LOCKOUT = timedelta(minutes=15)
LOGIN_FORGET_AFTER = timedelta(days=1)


def login_lockout(attempt_number: int) -> timedelta | None:
    """How long a failure of this attempt (1 = the first in a row) locks the email out; None: not at all."""
    if attempt_number < LOGIN_FREE_ATTEMPTS:
        return None
    doublings = min(attempt_number - LOGIN_FREE_ATTEMPTS, 10)
    return min(LOGIN_FIRST_LOCKOUT * (1 << doublings), LOGIN_MAX_LOCKOUT)
