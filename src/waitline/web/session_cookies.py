"""The names of the sign-in cookies: who is signed in (web/policy.py) and what CSRF tokens are bound to
(web/csrf.py) both read them."""

from __future__ import annotations

STAFF = "wl_session"  # a staff login's session (pages_staff.py)
OWNER = "wl_owner"  # an owner's session (pages_admin.py)
