"""What the languages cost a render: the join page's live part (the part every live update re-renders),
rendered N times per language in one process; times are the best of 5 rounds, compared as ratios within
the run (the machine is shared: absolute figures are noisy).

    .venv/bin/python -m bench.languages
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from waitline.config import Settings
from waitline.domain.restaurant import QueueSummary, Restaurant
from waitline.services.views import JoinView
from waitline.wait_estimate import WaitEstimate
from waitline.web.rendering import Pages

RENDERS = 3000
ROUNDS = 5


def main() -> None:
    pages = Pages(Settings(database_url="sqlite:///unused"))
    restaurant = Restaurant(
        id=uuid.uuid4(),
        slug="luigis",
        name="Luigis",
        queue_open=True,
        default_region="GB",
        created_at=datetime.now(UTC),
    )
    summary = QueueSummary(restaurant=restaurant, waiting_count=7, now_serving=3)
    view = JoinView(summary=summary, estimate=WaitEstimate(10, 16, True))
    timings: dict[str, list[float]] = {}
    for _ in range(ROUNDS):
        for language in ("en", "es", "ar"):
            context = {"view": view, "restaurant": restaurant, "language": language}
            pages.fragment("_join_live.html", context)
            start = time.perf_counter()
            for _ in range(RENDERS):
                pages.fragment("_join_live.html", context)
            timings.setdefault(language, []).append((time.perf_counter() - start) / RENDERS * 1e6)
    english = min(timings["en"])
    for language, runs in timings.items():
        print(f"{language}: best {min(runs):.1f} µs a render, {min(runs) / english:.2f} x English")


if __name__ == "__main__":
    main()
