"""A clock the test moves by hand, and a shorthand for rate policies: rate-limit tests never wait."""

from __future__ import annotations

from waitline.ratelimit import RatePolicy

# A whole minute since the epoch, in the future, so that a minute boundary is easy to stand next to.
EPOCH = 1_800_000_000.0
assert EPOCH % 60 == 0


class FakeClock:
    """Seconds since the epoch, moved only by the test."""

    def __init__(self, start: float = EPOCH) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, now: float) -> None:
        self.now = now


def policy(text: str, name: str = "test") -> RatePolicy:
    parsed = RatePolicy.parse(text, name=name)
    assert parsed is not None
    return parsed
