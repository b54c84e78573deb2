"""The use cases, one method each; the only place a transaction is opened.

``Services`` is built once per app (``web/app.py``) or command (``cli.py``) with its database, rate limits
and observer, and hands each group of use cases what it needs. The web layer and the command line call
nothing below this.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from waitline.ratelimit import JoinLimits
from waitline.services.access import Access
from waitline.services.accounts import Accounts
from waitline.services.admin import Admin
from waitline.services.analytics import Analytics
from waitline.services.estimates import Estimates
from waitline.services.eventlog import EventLog
from waitline.services.holds import Holds
from waitline.services.notifier import MessageObserver
from waitline.services.outcomes import Observer, Unobserved
from waitline.services.ownership import Ownership
from waitline.services.pushes import Pushes
from waitline.services.queue import Queue
from waitline.services.replies import Replies
from waitline.services.restaurants import Restaurants
from waitline.services.texts import Texts
from waitline.services.views import Views
from waitline.store.engine import Database

NO_LIMITS = JoinLimits(per_ip=None, per_mobile=None, shared=None, clock=time.time)


class Services:
    def __init__(
        self,
        *,
        database: Database,
        limits: JoinLimits = NO_LIMITS,
        observer: Observer | None = None,
        messages: MessageObserver | None = None,
        join_batch_max: int = 0,  # 0: no coalescing (Settings.join_coalescing)
    ) -> None:
        self._database = database
        self.restaurants = Restaurants(database=database)
        self.accounts = Accounts(database=database)
        self.access = Access(database=database)
        self.admin = Admin(database=database)
        self.ownership = Ownership(database=database)
        self.estimates = Estimates(database=database, observer=observer)
        self.queue = Queue(
            database=database,
            limits=limits,
            observer=observer or Unobserved(),
            estimates=self.estimates,
            join_batch_max=join_batch_max,
        )
        self.views = Views(database=database, estimates=self.estimates)
        self.analytics = Analytics(database=database, estimates=self.estimates)
        self.events = EventLog(database=database)
        self.clock: Callable[[], float] = limits.clock
        self.texts = Texts(database=database)
        self.pushes = Pushes(database=database)
        self.holds = Holds(database=database, queue=self.queue, observer=observer or Unobserved())
        self.replies = Replies(
            database=database, queue=self.queue, observer=observer or Unobserved(), messages=messages
        )

    async def ping(self, *, timeout_seconds: float) -> bool:
        """The database answers within ``timeout_seconds``: ready for traffic."""
        return await self._database.ping(timeout_seconds=timeout_seconds)
