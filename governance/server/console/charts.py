"""Server-side SVG charts for the console: an endpoint's routing weights over time.

Every label comes from records (version names), so it is escaped; the page embeds the SVG
inline, and no script draws anything.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape

from governance.domain.rollout import SpecVersion

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 860, 260, 48, 150, 16, 36
COLOURS = ("#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037")


def weight_series(
    specs: list[SpecVersion], until: datetime
) -> dict[str, list[tuple[datetime, int]]]:
    """Each version's share of unflagged traffic as steps: (time, weight) from spec to spec."""
    names = list(dict.fromkeys(v for spec in specs for v in spec.spec.versions()))
    series: dict[str, list[tuple[datetime, int]]] = {name: [] for name in names}
    for index, spec in enumerate(specs):
        shares = spec.spec.versions()
        end = specs[index + 1].created_at if index + 1 < len(specs) else until
        for name in names:
            weight = shares.get(name, 0)
            series[name] += [(spec.created_at, weight), (max(end, spec.created_at), weight)]
    return series


def chart_end(specs: list[SpecVersion], until: datetime) -> datetime:
    """Where the time axis ends: `until`, or a quarter of the history past the last change.

    Weeks of unchanged routing after minutes of changes would squeeze every change into one
    vertical line; the last state is still drawn, to the axis's (labelled) end.
    """
    if not specs:
        return until
    first, last = specs[0].created_at, specs[-1].created_at
    margin = max((last - first) * 0.25, timedelta(minutes=1))
    return min(until, last + margin) if until > last else last + margin


def routing_chart(specs: list[SpecVersion], until: datetime) -> str:
    """An SVG: one polyline per version of its weight (0-100%) over its history, to `until`."""
    until = chart_end(specs, until)
    series = weight_series(specs, until)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="Routing weights over time">',
        f"<title>Routing weights over time, {len(specs)} specs</title>",
    ]
    for pct in (0, 50, 100):
        y = TOP + plot_h * (1 - pct / 100)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'font-family="sans-serif">{pct}%</text>'
        )
    if not specs:
        parts.append("</svg>")
        return "\n".join(parts)
    start = specs[0].created_at
    span = max((until - start).total_seconds(), 1.0)

    def x_of(when: datetime) -> float:
        return LEFT + plot_w * min(max((when - start).total_seconds() / span, 0.0), 1.0)

    for index, (name, points) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        coords = " ".join(f"{x_of(t):.1f},{TOP + plot_h * (1 - w / 100):.1f}" for t, w in points)
        label = escape(name)
        parts.append(
            f'<polyline data-version="{label}" points="{coords}" fill="none" '
            f'stroke="{colour}" stroke-width="2.5"><title>{label}</title></polyline>'
        )
        y = TOP + 14 + 18 * index
        parts.append(
            f'<rect x="{LEFT + plot_w + 14}" y="{y - 9}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{LEFT + plot_w + 32}" y="{y + 1}" font-size="12" '
            f'font-family="sans-serif">{label}</text>'
        )
    for spec in specs:
        x = x_of(spec.created_at)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP + plot_h}" x2="{x:.1f}" y2="{TOP + plot_h + 5}" '
            f'stroke="#555"><title>spec {spec.number}: {escape(spec.reason)}</title></line>'
        )
    for x, when, anchor in ((LEFT, start, "start"), (LEFT + plot_w, until, "end")):
        parts.append(
            f'<text x="{x}" y="{HEIGHT - 10}" font-size="11" font-family="sans-serif" '
            f'text-anchor="{anchor}">{when:%Y-%m-%d %H:%M} UTC</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
