"""Charts for the reports and the runs index, drawn by hand as inline SVG (offline, nothing to
fetch, text a browser can search), in one style. Each function returns the ``<svg>`` element as a
string with a ``<title>`` saying what it shows (read by screen readers).

They were drawn with matplotlib, whose import (0.25 s, and a font cache built on a new machine)
was on a tiny run's path to its reports; three chart shapes need no plotting library."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence

BLUE, RED, GREY, GREEN, AMBER = "#4c78a8", "#e45756", "#9d9d9d", "#54a24b", "#f58518"
AXIS, TEXT = "#444", "#222"
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
CHAR_WIDTH = 0.56  # an average character's width, in font sizes (labels are laid out by it)


def _svg(width: float, height: float, title: str, body: str, css_class: str = "chart") -> str:
    label = html.escape(title)
    return (
        f'<svg class="{css_class}" role="img" aria-label="{label}" xmlns="{SVG_NAMESPACE}" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'font-family="system-ui,sans-serif"><title>{label}</title>{body}</svg>'
    )


def _text(x: float, y: float, text: str, size: float, anchor: str = "start", **extra: str) -> str:
    attributes = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in extra.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="{TEXT}"{attributes}>{html.escape(text)}</text>'
    )


def _line(x1: float, y1: float, x2: float, y2: float, color: str = AXIS) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}"/>'


def nice_ticks(top: float, count: int = 5, integer: bool = False) -> list[float]:
    """Return round tick values from 0 to at least ``top`` (steps of 1, 2 or 5 times a power of
    ten; whole numbers when ``integer``)."""
    if not top > 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if integer:
        step = max(1.0, float(math.ceil(step)))
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(ticks[-1] + step)
    return ticks


def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.3g}" if abs(value) < 1 else f"{value:,.1f}"


def bar_chart(
    labels: Sequence[str], values: Sequence[float], title: str, color: str = BLUE, xlabel: str = ""
) -> str:
    """Horizontal bars, the first label at the top, each with its value."""
    shown = [_short(label, 60) for label in labels]
    numbers = [float(v) for v in values]
    row, top_pad, size = 26.0, 34.0, 11
    left = min(max((len(s) for s in shown), default=0) * size * CHAR_WIDTH + 10, 400)
    width = 760.0
    plot_width = width - left - 70
    height = top_pad + row * len(shown) + (40 if xlabel else 28)
    ticks = nice_ticks(max(numbers, default=0), integer=all(v.is_integer() for v in numbers))
    scale = plot_width / ticks[-1]
    bottom = top_pad + row * len(shown)
    parts = [_text(4, 18, title, 13, font_weight="600")]
    for tick in ticks:
        x = left + tick * scale
        parts.append(_line(x, bottom, x, bottom + 4))
        parts.append(_text(x, bottom + 16, _number(tick), 10, "middle"))
    for i, (label, value) in enumerate(zip(shown, numbers, strict=False)):
        y = top_pad + i * row
        length = max(value, 0) * scale
        parts.append(
            f'<rect x="{left:.1f}" y="{y + 3:.1f}" width="{length:.1f}" height="{row - 6:.1f}" '
            f'fill="{color}"/>'
        )
        parts.append(_text(left - 6, y + row / 2 + 4, label, size, "end"))
        parts.append(_text(left + length + 4, y + row / 2 + 4, f"{value:,.0f}", 10))
    parts.append(_line(left, top_pad, left, bottom))
    parts.append(_line(left, bottom, left + plot_width, bottom))
    if xlabel:
        parts.append(_text(left + plot_width / 2, height - 6, xlabel, size, "middle"))
    return _svg(width, height, title, "".join(parts))


def trend(
    x: Sequence[str], y: Sequence[float], title: str, color: str = BLUE, unit: str = ""
) -> str:
    """A line over the runs, oldest first (the runs' ids on the x axis, thinned out), from 0."""
    width, height = 331.0, 144.0
    values = [float(v) if v is not None and math.isfinite(float(v)) else 0.0 for v in y]
    ticks = nice_ticks(max(values, default=0), count=4)
    left, right, top, bottom = 48.0 + (12 if unit else 0), 32.0, 24.0, height - 22
    plot_width, plot_height = width - left - right, bottom - top
    step_x = plot_width / max(len(values) - 1, 1)

    def point(i: int, value: float) -> tuple[float, float]:
        return left + i * step_x, bottom - value / ticks[-1] * plot_height

    parts = [_text(4, 14, title, 10)]
    for tick in ticks:
        ty = bottom - tick / ticks[-1] * plot_height
        parts.append(_line(left - 4, ty, left, ty))
        parts.append(_text(left - 6, ty + 3, _number(tick), 7, "end"))
    step = max(1, -(-len(x) // 4))  # at most four labels
    for i in range(0, len(x), step):
        px, _ = point(i, 0)
        parts.append(_line(px, bottom, px, bottom + 4))
        parts.append(_text(px, bottom + 13, _when(x[i]), 7, "middle"))
    if unit:
        middle = top + plot_height / 2
        parts.append(_text(10, middle, unit, 8, "middle", transform=f"rotate(-90 10 {middle:.1f})"))
    parts.append(_line(left, top, left, bottom))
    parts.append(_line(left, bottom, left + plot_width, bottom))
    points = [point(i, v) for i, v in enumerate(values)]
    path = " ".join(f"{'L' if i else 'M'}{px:.1f},{py:.1f}" for i, (px, py) in enumerate(points))
    if path:
        parts.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
    parts.extend(
        f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{color}"/>' for px, py in points
    )
    return _svg(width, height, title, "".join(parts))


def _when(run_id: str) -> str:
    """``20261128T183106Z-f2a355`` -> ``11-28 18:31`` (other ids cut short)."""
    found = re.match(r"\d{4}(\d\d)(\d\d)T(\d\d)(\d\d)", run_id)
    return f"{found[1]}-{found[2]} {found[3]}:{found[4]}" if found else run_id[:12]


def _short(text: str, limit: int) -> str:
    """Return ``text`` in at most ``limit`` characters, cut in the middle: reasons differ at
    their ends ("... Expected 3 Found: 2" against "... Found: 5"), so both ends stay."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    if len(text) <= limit:
        return text
    head = (limit - 1) * 2 // 3
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def spark_bars(counts: Sequence[float], title: str, color: str = BLUE) -> str:
    """A tiny bar chart (a column's distribution): cheap enough for every column of every table
    of a run."""
    width, height, gap = 120, 28, 1
    top = max(counts) if counts else 0
    if not top:
        return ""
    step = width / len(counts)
    bars = "".join(
        f'<rect x="{i * step:.1f}" y="{height - height * c / top:.1f}" '
        f'width="{max(step - gap, 1):.1f}" height="{height * c / top:.1f}" fill="{color}"/>'
        for i, c in enumerate(counts)
        if c
    )
    return _svg(width, height, title, bars, css_class="spark")
