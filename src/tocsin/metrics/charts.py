"""SVG bar charts drawn from figures (pure): no JavaScript, no fonts beyond the viewer's.

Every label goes through `escape`, so a severity or clock kind named by a policy cannot
inject markup into the console page or a report.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, MARGIN, AXIS = 640, 240, 36, 28
COLOUR = "#3366cc"


def bars(
    title: str, labels: Sequence[str], values: Sequence[float | None], *, unit: str = ""
) -> str:
    """A vertical bar chart; a None value leaves its slot empty and says "no data"."""
    peak = max((v for v in values if v is not None), default=0.0) or 1.0
    slot = (WIDTH - 2 * MARGIN) / max(len(labels), 1)
    plot_height = HEIGHT - MARGIN - AXIS
    parts = [_open(title), _text(WIDTH / 2, 20, title, anchor="middle", weight="bold")]
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = MARGIN + index * slot
        parts.append(_text(x + slot / 2, HEIGHT - 10, label, anchor="middle", size=10))
        if value is None:
            parts.append(_text(x + slot / 2, HEIGHT - AXIS - 4, "—", anchor="middle", size=10))
            continue
        height = plot_height * value / peak
        top = HEIGHT - AXIS - height
        parts.append(
            f'<rect x="{x + slot * 0.15:.1f}" y="{top:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{height:.1f}" fill="{COLOUR}"><title>{escape(label)}: '
            f"{escape(_number(value))}{escape(unit)}</title></rect>"
        )
        parts.append(_text(x + slot / 2, top - 3, _number(value) + unit, anchor="middle", size=9))
    parts.append(
        f'<line x1="{MARGIN}" y1="{HEIGHT - AXIS}" x2="{WIDTH - MARGIN}" '
        f'y2="{HEIGHT - AXIS}" stroke="#666"/>'
    )
    return "".join(parts) + "</svg>\n"


def _open(title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif">'
    )


def _text(
    x: float, y: float, text: str, *, anchor: str = "start", size: int = 12, weight: str = ""
) -> str:
    bold = f' font-weight="{weight}"' if weight else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{bold}>'
        f"{escape(text)}</text>"
    )


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
