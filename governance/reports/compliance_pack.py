"""The compliance pack as a reader sees it: Markdown, a standalone HTML page and an SVG timeline.

Everything renders from the pack's items and manifest, so a reader's copy and the signed
manifest say the same. Text from records is escaped: card or compliance.yaml markup is shown,
never run.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from markupsafe import Markup

from governance.domain.compliance_pack import LANES, Item, Manifest, Mark
from governance.reports.rendering import HTML, MARKDOWN

_WIDTH, _LEFT, _RIGHT, _LANE = 960, 110, 30, 46


def render_markdown(manifest: Manifest, items: list[Item]) -> str:
    """The pack as Markdown; the timeline is the `timeline.svg` beside it."""
    return MARKDOWN.get_template("compliance_pack.md.j2").render(m=manifest, items=items)


def render_html(manifest: Manifest, items: list[Item], timeline: str) -> str:
    """The pack as one standalone HTML page with the timeline inline."""
    return HTML.get_template("compliance_pack.html.j2").render(
        m=manifest, items=items, timeline=Markup(timeline)
    )


def render_timeline(marks: list[Mark]) -> str:
    """An SVG chart of the lifecycle: one lane per kind of act, a dot per event, alarms red."""
    height = 56 + _LANE * len(LANES)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {height}" role="img" aria-label="Lifecycle timeline">',
        '<rect width="100%" height="100%" fill="#fff"/>',
    ]
    for index, lane in enumerate(LANES):
        y = 30 + _LANE * index
        parts.append(
            f'<text x="8" y="{y + 4}" font-family="sans-serif" font-size="12">{lane}</text>'
            f'<line x1="{_LEFT}" y1="{y}" x2="{_WIDTH - _RIGHT}" y2="{y}" stroke="#ccc"/>'
        )
    times = [_when(mark.ts) for mark in marks]
    if times:
        start, end = min(times), max(times)
        span = (end - start).total_seconds() or 1.0
        for mark, when in zip(marks, times, strict=True):
            x = _LEFT + (_WIDTH - _LEFT - _RIGHT) * (when - start).total_seconds() / span
            y = 30 + _LANE * LANES.index(mark.lane)
            colour = "#c62828" if mark.alarm else "#1565c0"
            label = escape(f"#{mark.seq} {mark.ts[:19]} {mark.label}")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y}" r="5" fill="{colour}">'
                f"<title>{label}</title></circle>"
            )
        bottom = 30 + _LANE * len(LANES) - 10
        for x, when in ((_LEFT, start), (_WIDTH - _RIGHT, end)):
            anchor = "start" if x == _LEFT else "end"
            parts.append(
                f'<text x="{x}" y="{bottom}" font-family="sans-serif" font-size="11" '
                f'text-anchor="{anchor}">{when:%Y-%m-%d %H:%M} UTC</text>'
            )
    legend_y = 30 + _LANE * len(LANES) + 8
    parts.append(
        f'<circle cx="{_LEFT}" cy="{legend_y}" r="5" fill="#1565c0"/>'
        f'<text x="{_LEFT + 10}" y="{legend_y + 4}" font-family="sans-serif" font-size="11">'
        "a governed act</text>"
        f'<circle cx="{_LEFT + 130}" cy="{legend_y}" r="5" fill="#c62828"/>'
        f'<text x="{_LEFT + 140}" y="{legend_y + 4}" font-family="sans-serif" font-size="11">'
        "a refusal, failed check, rollback or break-glass</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _when(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))
