"""Charts drawn on the server as SVG: no script, no library, nothing from elsewhere.

Colours are presentation attributes (``fill``), not ``style``: the pages' Content-Security-Policy forbids
inline styles. Each chart carries a ``<title>`` per mark, so hovering (or a screen reader) gives the figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
BASE = "#1d4ed8"
LIGHT = "#93c5fd"


def _svg(width: int, height: int, label: str, body: list[Markup]) -> Markup:
    template = Markup(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'class="chart">{}</svg>'
    )
    return template.format(width, height, label, Markup("").join(body))


def _text(x: float, y: float, words: str, anchor: str = "middle", size: int = 10) -> Markup:
    template = Markup('<text x="{:.1f}" y="{:.1f}" font-size="{}" text-anchor="{}" fill="#374151">{}</text>')
    return template.format(x, y, size, anchor, words)


def heatmap(parties_by_hour: Mapping[int, int], *, label: str) -> Markup:
    """Parties joined by hour of week: 7 rows (Monday first) of 24 cells, darker for busier."""
    cell, left, top = 22, 34, 16
    busiest = max(parties_by_hour.values(), default=0) or 1
    body = [_text(left + hour * cell + cell / 2, 11, f"{hour:02d}", size=8) for hour in range(0, 24, 3)]
    for day, name in enumerate(DAYS):
        y = top + day * cell
        body.append(_text(left - 6, y + cell * 0.65, name, anchor="end"))
        for hour in range(24):
            parties = parties_by_hour.get(day * 24 + hour, 0)
            share = parties / busiest
            cell_mark = Markup(
                '<rect x="{}" y="{}" width="{}" height="{}" rx="3" fill="{}" fill-opacity="{:.2f}">'
                "<title>{} {:02d}:00 · {} parties</title></rect>"
            )
            body.append(
                cell_mark.format(
                    left + hour * cell, y, cell - 2, cell - 2, BASE, 0.06 + 0.94 * share, name, hour, parties
                )
            )
    return _svg(left + 24 * cell, top + 7 * cell, label, body)


def bars(
    groups: Sequence[tuple[str, float | None, float | None]], *, label: str, unit: str = "min"
) -> Markup:
    """Two bars per group (median, and 90th percentile behind it): ``(name, median, p90)``."""
    width, height, left, bottom, top = 640, 200, 40, 24, 12
    highest = max((value for _, median, p90 in groups for value in (median, p90) if value), default=0) or 1
    step = (width - left) / max(len(groups), 1)
    plot = height - bottom - top
    axis = Markup('<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#9ca3af"/>')
    body = [
        axis.format(left, height - bottom, width, height - bottom),
        _text(left - 4, top + 8, f"{highest:.0f} {unit}", anchor="end"),
        _text(left - 4, height - bottom, f"0 {unit}", anchor="end"),
    ]
    for index, (name, median, p90) in enumerate(groups):
        x = left + index * step + step * 0.15
        bar = step * 0.7
        for value, colour, what in ((p90, LIGHT, "90th percentile"), (median, BASE, "median")):
            if value is None:
                continue
            tall = plot * value / highest
            mark = Markup(
                '<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}">'
                "<title>{}: {} {:.1f} {}</title></rect>"
            )
            body.append(mark.format(x, height - bottom - tall, bar, tall, colour, name, what, value, unit))
        if len(groups) <= 24 or index % 6 == 0:
            body.append(_text(x + bar / 2, height - 8, name))
    return _svg(width, height, label, body)
