"""The outcome report's charts, drawn on the server as inline SVG (no script).

Each chart is one ``<svg role="img">`` named by its ``<title>`` and described by its
``<desc>`` (the figures in a sentence); the page puts the same figures in a table beside
it. Colours are SVG presentation attributes (``fill=``) with a class for the style
sheet to refine: the content security policy forbids ``style=`` attributes, not these,
and a summary saved or forwarded without its style sheet keeps its colours. Every text
passed in is escaped here; the caller passes it already in the reader's language.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

LEISURE_FILL = "#5f8f6b"  # 休暇型: green
BUSINESS_FILL = "#8a5a2b"  # 業務型: the site's wood brown
REGION_FILL = "#3f6e8c"
GRID_STROKE = "#d9d2c3"
TEXT_FILL = "#4a4a4a"


@dataclass(frozen=True)
class StackedBar:
    """One month's bar: its axis label, the words its tooltip says, and its two parts."""

    key: str  # a data attribute: "2026-04"
    label: str  # under the bar: "4月", "Apr"
    tooltip: str
    leisure: int
    business: int


@dataclass(frozen=True)
class Bar:
    key: str
    label: str
    value: int
    tooltip: str


def nice_ceiling(peak: int) -> int:
    """The smallest of 1, 2, 5 × 10ⁿ (n ≥ 0) at or above ``peak``: the axis's top."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if step * top >= peak:
                return step * top
        top *= 10


def _ticks(top: int) -> list[int]:
    return [0, top // 2, top] if top % 2 == 0 else [0, top]


def _num(value: float) -> str:
    """A coordinate: an integer as is, else one decimal."""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _open(cls: str, width: int, height: int, ident: str, title: str, desc: str) -> list[str]:
    return [
        f'<svg class="report-chart {cls}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" data-testid="{ident}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(desc)}</desc>',
    ]


def month_chart(
    bars: Sequence[StackedBar],
    *,
    ident: str,
    title: str,
    desc: str,
    leisure_label: str,
    business_label: str,
) -> Markup:
    """Nights by month, leisure and business stacked (leisure at the bottom)."""
    left, top, plot, bottom, slot = 44, 34, 150, 24, 34
    width = left + slot * max(1, len(bars)) + 8
    height = top + plot + bottom
    peak = nice_ceiling(max((b.leisure + b.business for b in bars), default=0))
    scale = plot / peak
    svg = _open("month-chart", width, height, ident, title, desc)
    # the legend, inside the chart so a forwarded copy keeps it
    for x, cls, fill, label in (
        (left, "leisure", LEISURE_FILL, leisure_label),
        (left + 150, "business", BUSINESS_FILL, business_label),
    ):
        svg.append(
            f'<rect class="swatch-{cls}" x="{x}" y="6" width="12" height="12" fill="{fill}"/>'
            f'<text class="legend" x="{x + 16}" y="16" fill="{TEXT_FILL}" font-size="12">'
            f"{escape(label)}</text>"
        )
    for value in _ticks(peak):
        y = top + plot - value * scale
        svg.append(
            f'<line class="grid-line" x1="{left}" x2="{width - 4}" y1="{_num(y)}" y2="{_num(y)}"'
            f' stroke="{GRID_STROKE}" stroke-width="1"/>'
            f'<text class="axis" x="{left - 6}" y="{_num(y + 4)}" text-anchor="end"'
            f' fill="{TEXT_FILL}" font-size="11">{value:,}</text>'
        )
    for index, bar in enumerate(bars):
        x = left + index * slot + 5
        base = top + plot
        svg.append(f'<g class="bar" data-month="{escape(bar.key)}">')
        svg.append(f"<title>{escape(bar.tooltip)}</title>")
        for value, cls, fill in (
            (bar.leisure, "bar-leisure", LEISURE_FILL),
            (bar.business, "bar-business", BUSINESS_FILL),
        ):
            if value:
                h = value * scale
                base -= h
                svg.append(
                    f'<rect class="{cls}" x="{x}" y="{_num(base)}" width="{slot - 10}"'
                    f' height="{_num(h)}" fill="{fill}" data-nights="{value}"/>'
                )
        svg.append(
            f'<text class="axis" x="{x + (slot - 10) / 2:.0f}" y="{top + plot + 16}"'
            f' text-anchor="middle" fill="{TEXT_FILL}" font-size="11">{escape(bar.label)}</text>'
        )
        svg.append("</g>")
    svg.append("</svg>")
    return Markup("".join(svg))  # noqa: S704 - every text above is escaped


def bar_chart(bars: Sequence[Bar], *, ident: str, title: str, desc: str) -> Markup:
    """Horizontal bars, one row per ``bars`` (nights by region), the value at its end."""
    label_width, plot, row, top = 110, 230, 26, 6
    width = label_width + plot + 60
    height = top + row * max(1, len(bars)) + 6
    peak = max((b.value for b in bars), default=0) or 1
    svg = _open("bar-chart", width, height, ident, title, desc)
    for index, bar in enumerate(bars):
        y = top + index * row
        length = bar.value / peak * plot
        svg.append(f'<g class="bar" data-key="{escape(bar.key)}">')
        svg.append(f"<title>{escape(bar.tooltip)}</title>")
        svg.append(
            f'<text class="axis" x="{label_width - 8}" y="{y + 17}" text-anchor="end"'
            f' fill="{TEXT_FILL}" font-size="12">{escape(bar.label)}</text>'
        )
        if bar.value:
            svg.append(
                f'<rect class="bar-region" x="{label_width}" y="{y + 4}" width="{_num(length)}"'
                f' height="{row - 8}" fill="{REGION_FILL}" data-nights="{bar.value}"/>'
            )
        svg.append(
            f'<text class="value" x="{_num(label_width + length + 6)}" y="{y + 17}"'
            f' fill="{TEXT_FILL}" font-size="12">{bar.value:,}</text>'
        )
        svg.append("</g>")
    svg.append("</svg>")
    return Markup("".join(svg))  # noqa: S704 - every text above is escaped
