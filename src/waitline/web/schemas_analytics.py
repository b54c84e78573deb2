"""The analytics API's JSON shapes (camelCase), kept apart from the domain's values."""

from __future__ import annotations

from datetime import date

from waitline.domain.analytics import Counts, Report, WaitStats
from waitline.web.schemas import ApiModel


class CountsOut(ApiModel):
    joined: int
    called: int
    seated: int
    no_show: int
    cancelled: int
    left: int
    walk_away_rate: float | None

    @classmethod
    def of(cls, counts: Counts) -> CountsOut:
        return cls(
            joined=counts.joined,
            called=counts.called,
            seated=counts.seated,
            no_show=counts.no_show,
            cancelled=counts.cancelled,
            left=counts.left,
            walk_away_rate=counts.walk_away_rate,
        )


class WaitsOut(ApiModel):
    """Minutes; ``key``: the hour of week (0 = Monday 00:00) or the party size; null overall."""

    key: int | None
    parties: int
    call_median: float | None
    call_p90: float | None
    seat_median: float | None
    seat_p90: float | None
    quoted: int
    inside_quote: int

    @classmethod
    def of(cls, key: int | None, stats: WaitStats) -> WaitsOut:
        return cls(
            key=key,
            parties=stats.parties,
            call_median=stats.call_median,
            call_p90=stats.call_p90,
            seat_median=stats.seat_median,
            seat_p90=stats.seat_p90,
            quoted=stats.quoted,
            inside_quote=stats.inside,
        )


class AnalyticsOut(ApiModel):
    first_day: date
    last_day: date
    time_zone: str
    counts: CountsOut
    waits: WaitsOut
    by_hour_of_week: list[WaitsOut]
    by_party_size: list[WaitsOut]
    quote_coverage: float | None  # of the calibrated range, over the calibration's history
    # How far the medians and 90th percentiles may lie from the exact ones, in minutes: 0.5 when read from
    # the whole-minute histograms kept with every change (the location's own time zone), 0 when exact.
    wait_precision_minutes: float

    @classmethod
    def of(
        cls, report: Report, *, first: date, last: date, zone: str, quote_coverage: float | None
    ) -> AnalyticsOut:
        waits = report.waits
        return cls(
            first_day=first,
            last_day=last,
            time_zone=zone,
            counts=CountsOut.of(report.counts),
            waits=WaitsOut.of(None, waits.overall),
            by_hour_of_week=[WaitsOut.of(hour, stats) for hour, stats in waits.by_hour.items()],
            by_party_size=[WaitsOut.of(size, stats) for size, stats in waits.by_party_size.items()],
            quote_coverage=quote_coverage,
            wait_precision_minutes=waits.precision_minutes,
        )
