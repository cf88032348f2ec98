"""Charts for the reports and the runs index: matplotlib drawn to inline SVG (offline, nothing to
fetch, text a browser can search), in one style. Each function returns the ``<svg>`` element as a
string with a ``<title>`` saying what it shows (read by screen readers)."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence

from matplotlib import rc_context
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

BLUE, RED, GREY, GREEN, AMBER = "#4c78a8", "#e45756", "#9d9d9d", "#54a24b", "#f58518"
_XML_HEAD = re.compile(r"^.*?(<svg)", re.S)
_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=72)
    figure.patch.set_alpha(0)
    return figure


def _svg(figure: Figure, title: str) -> str:
    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "csvdock"}):  # text stays text
        FigureCanvasSVG(figure).print_svg(buffer, metadata=_NO_METADATA)
    svg = _XML_HEAD.sub(r"\1", buffer.getvalue(), count=1)
    label = html.escape(title)
    return svg.replace("<svg ", f'<svg class="chart" role="img" aria-label="{label}" ', 1).replace(
        ">", f"><title>{label}</title>", 1
    )


def _tidy(axes) -> None:  # type: ignore[no-untyped-def]
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(labelsize=9)


def bar_chart(
    labels: Sequence[str], values: Sequence[float], title: str, color: str = BLUE, xlabel: str = ""
) -> str:
    """Horizontal bars, the first label at the top."""
    figure = _figure(7.5, 0.32 * len(labels) + 1.0)
    axes = figure.add_subplot()
    shown = [_short(label, 60) for label in labels][::-1]
    axes.barh(shown, list(values)[::-1], color=color)
    for y, value in enumerate(list(values)[::-1]):
        axes.text(value, y, f" {value:,.0f}", va="center", fontsize=8)
    axes.set_title(title, fontsize=10, loc="left")
    axes.set_xlabel(xlabel, fontsize=9)
    if all(float(v).is_integer() for v in values):  # counts: no 2.5 rejects on the axis
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    _tidy(axes)
    figure.tight_layout()
    return _svg(figure, title)


def histogram(values: Sequence[float], title: str, bins: int = 20) -> str:
    """A small histogram of numbers (dates as days)."""
    figure = _figure(2.6, 1.1)
    axes = figure.add_subplot()
    axes.hist(list(values), bins=bins, color=BLUE)
    axes.yaxis.set_major_locator(MaxNLocator(nbins=2, integer=True))  # counts: whole numbers
    axes.tick_params(labelsize=7)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    figure.tight_layout(pad=0.2)
    return _svg(figure, title)


def trend(
    x: Sequence[str], y: Sequence[float], title: str, color: str = BLUE, unit: str = ""
) -> str:
    """A line over the runs, oldest first (the runs' ids on the x axis, thinned out)."""
    figure = _figure(4.6, 2.0)
    axes = figure.add_subplot()
    axes.plot(range(len(y)), list(y), marker="o", markersize=3, color=color)
    axes.set_title(title, fontsize=10, loc="left")
    step = max(1, -(-len(x) // 4))  # at most four labels
    ticks = list(range(0, len(x), step))
    axes.set_xticks(ticks, [_when(x[i]) for i in ticks], fontsize=7)
    axes.set_ylim(bottom=0)
    if unit:
        axes.set_ylabel(unit, fontsize=8)
    _tidy(axes)
    figure.tight_layout()
    return _svg(figure, title)


def _when(run_id: str) -> str:
    """``20261128T183106Z-f2a355`` -> ``11-28 18:31`` (other ids cut short)."""
    found = re.match(r"\d{4}(\d\d)(\d\d)T(\d\d)(\d\d)", run_id)
    return f"{found[1]}-{found[2]} {found[3]}:{found[4]}" if found else run_id[:12]


def _short(text: str, limit: int) -> str:
    """Return ``text`` in at most ``limit`` characters, cut in the middle: reasons differ at
    their ends ("... Expected 3 Found: 2" against "... Found: 5"), so both ends stay."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(text)).replace("$", r"\$")
    if len(text) <= limit:
        return text
    head = (limit - 1) * 2 // 3
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def spark_bars(counts: Sequence[float], title: str, color: str = BLUE) -> str:
    """A tiny bar chart drawn by hand (a column's distribution): cheap enough for every column
    of every table of a run."""
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
    label = html.escape(title)
    return (
        f'<svg class="spark" role="img" aria-label="{label}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{label}</title>{bars}</svg>'
    )
