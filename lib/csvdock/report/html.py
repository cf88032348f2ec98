"""The pieces the report pages are made of, as HTML strings: the page style, the KPI strip, tables
(static HTML, no script), type badges, change chips, a raw record with the offending
value marked. Every text from a file (names, values, reasons) is escaped here, and long or
binary-looking names are cut."""

from __future__ import annotations

import html
from typing import Any

import polars as pl

STYLE = """
<style>
.csvdock{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
max-width:1100px}
.csvdock h2{margin:1.4em 0 .4em;font-size:1.25em}
.kpis{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0 18px}
.kpi{border:1px solid #e3e3e3;border-radius:8px;padding:10px 14px;min-width:120px;
background:#fafafa}
.kpi .v{font-size:1.5em;font-weight:600}
.kpi .l{font-size:.8em;color:#666;text-transform:uppercase;letter-spacing:.04em}
.kpi.bad{border-color:#e45756;background:#fff5f5}
.kpi.good{border-color:#54a24b;background:#f6fbf5}
.badge{display:inline-block;padding:1px 7px;border-radius:10px;font-size:.8em;
font-family:monospace;
 background:#eef3f9;color:#2a5d8f;border:1px solid #c9d9ea}
.chip{display:inline-block;padding:1px 7px;border-radius:4px;font-size:.8em;margin:1px}
.chip.added{background:#e3f4e0;color:#2f6b27}
.chip.widened,.chip.retyped,.chip.format{background:#fdecd9;color:#8a4b08}
.chip.missing,.chip.removed{background:#fde2e1;color:#9b1c1c}
.raw{display:block;min-width:18em;font-family:monospace;white-space:pre-wrap;
word-break:break-all;background:#f6f6f6;padding:2px 4px}
.raw mark{background:#ffd25a;padding:0 1px}
.muted{color:#777}
.profiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(270px,1fr));gap:10px}
.profile{border:1px solid #e3e3e3;border-radius:8px;padding:8px 10px}
.profile .name{font-weight:600;word-break:break-all}
.profile table{font-size:.82em;margin-top:4px}
.csvdock .profile td{padding:0 8px 0 0;text-align:left !important}
svg.chart{max-width:100%;height:auto}
.csvdock .table-wrap{overflow-x:auto;margin:6px 0 14px}
.csvdock table.data{border-collapse:collapse;width:100%;font-size:13px}
.csvdock table.data caption{text-align:left;font-weight:600;font-size:1.05em;padding:4px 0}
.csvdock table.data th{font-weight:bold;text-align:left;border-bottom:2px solid #d3d3d3;
padding:3px 8px}
.csvdock table.data td{border-top:1px solid #e8e8e8;padding:3px 8px;overflow-wrap:anywhere;
text-align:left;vertical-align:top}
.csvdock table.data .num{text-align:right;font-variant-numeric:tabular-nums}
.csvdock table.runs{display:block;overflow-x:auto}
.csvdock .raw{min-width:0}
@media (max-width:600px){.csvdock table.data{font-size:11px}}
</style>"""


def escaped_name(text: Any, limit: int = 48) -> str:
    """Return ``text`` (a column or file name from a CSV) as safe HTML: characters that are not
    printable as ``?``, cut to ``limit`` characters with an ellipsis."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    if len(clean) > limit:
        clean = clean[: limit - 1] + "…"
    return html.escape(clean)


def kpi_strip(items: list[tuple[str, str, str]]) -> str:
    """Return a row of KPI cards from ``(label, value, tone)`` (tone: "", "good" or "bad")."""
    cards = "".join(
        f'<div class="kpi {tone}"><div class="v">{html.escape(value)}</div>'
        f'<div class="l">{html.escape(label)}</div></div>'
        for label, value, tone in items
    )
    return f'<div class="kpis">{cards}</div>'


def run_kpi_strip(kpis: dict[str, Any]) -> str:
    """Return the KPI cards of ``csvdock.report.data.run_kpis``."""
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(kpis["statuses"].items())) or "none"
    seconds = kpis["seconds"]
    speed = kpis["rows_per_s"]
    items = [
        ("files: " + statuses, f"{kpis['files']:,}", "bad" if kpis["failed"] else ""),
        ("rows read", f"{kpis['read']:,}", ""),
        ("rows loaded", f"{kpis['loaded']:,}", "good" if kpis["loaded"] else ""),
        ("rows rejected", f"{kpis['rejected']:,}", "bad" if kpis["rejected"] else "good"),
        ("reject rate", f"{kpis['reject_rate']:.2%}", "bad" if kpis["reject_rate"] else "good"),
        ("lines outside the table", f"{kpis['outside']:,}", ""),
        ("quarantined files", f"{kpis['quarantined']:,}", "bad" if kpis["quarantined"] else ""),
        ("failed files", f"{kpis['failed']:,}", "bad" if kpis["failed"] else ""),
        ("duration", f"{seconds:,.0f} s" if seconds is not None else "-", ""),
        ("rows per second", f"{speed:,.0f}" if speed else "-", ""),
    ]
    return kpi_strip(items)


def table(frame: pl.DataFrame, html_columns: tuple[str, ...] = (), title: str = "") -> str:
    """Return ``frame`` as a static HTML table: whole numbers with thousands separators, ratios
    as percentages (columns named ``... %``), text escaped and cut; ``html_columns`` hold HTML
    made here; a missing value is an empty cell."""
    formats = [_cell_format(frame.schema[c], c, c in html_columns) for c in frame.columns]
    numeric = [frame.schema[c].is_numeric() for c in frame.columns]
    head = "".join(
        f"<th{' class=num' if n else ''}>{escaped_name(c, 200)}</th>"
        for c, n in zip(frame.columns, numeric, strict=True)
    )
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if n else ''}>{'' if value is None else fmt(value)}</td>"
            for value, fmt, n in zip(row, formats, numeric, strict=True)
        )
        + "</tr>"
        for row in frame.iter_rows()
    )
    caption = f"<caption>{html.escape(title)}</caption>" if title else ""
    return (
        f'<div class="table-wrap"><table class="data">{caption}<thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


def _cell_format(dtype: pl.DataType, name: str, is_html: bool) -> Any:
    if is_html:
        return str
    if name.endswith("%"):
        return lambda value: f"{value:.1%}"
    if dtype.is_integer():
        return lambda value: f"{value:,}"
    if dtype == pl.String:
        return escaped_name_long
    return lambda value: html.escape(str(value))


def escaped_name_long(text: Any) -> str:
    """Escape a cell's text for a table, cut at 200 characters."""
    return escaped_name(text, 200) if text is not None else ""


def badge(text: str) -> str:
    """Return a small badge, e.g. a column's type."""
    return f'<span class="badge">{html.escape(text)}</span>'


def change_chips(changes: list[dict[str, Any]]) -> str:
    """Return a version's changes as coloured chips: added green, widened amber, missing red."""
    chips = []
    for change in changes:
        kind = str(change["change"])
        detail = ""
        if change.get("from"):
            detail = f": {change['from']} → {change.get('to', '')}"
        elif change.get("type"):
            detail = f": {change['type']}"
        elif change.get("format"):
            detail = f": {change['format']}"
        text = f"{kind} {escaped_name(change['column'], 40)}{html.escape(detail)}"
        chips.append(f'<span class="chip {html.escape(kind)}">{text}</span>')
    return " ".join(chips)


def marked_record(raw: str | None, value: str | None) -> str:
    """Return a rejected record's raw text with the offending value marked (its first
    occurrence), or the whole record when the reason names no value."""
    text = raw or ""
    if len(text) > 400:
        text = text[:399] + "…"
    if value and value in text:
        at = text.index(value)
        return (
            f'<span class="raw">{html.escape(text[:at])}<mark>{html.escape(value)}</mark>'
            f"{html.escape(text[at + len(value) :])}</span>"
        )
    return f'<span class="raw">{html.escape(text)}</span>'


def profile_cards(schema: Any, profiles: dict[str, dict[str, Any]]) -> str:
    """Return a card per column of ``schema`` (a ``TableSchema``): type badge, source name and
    format, null share, distinct values, min and max, and a small distribution (a histogram for
    numbers and dates, the most frequent values for text). Without ``profiles`` (no checkpoint
    left) the cards show the detection's evidence."""
    import numpy as np

    from csvdock.report.charts import spark_bars

    cards = []
    for column in schema.columns:
        profile = profiles.get(column.name)
        evidence = column.evidence or {}
        rows: list[tuple[str, str]] = []
        if column.source != column.name:
            rows.append(("in file", escaped_name(column.source, 40)))
        if column.format:
            rows.append(("format", html.escape(column.format)))
        chart = ""
        if profile:
            rows += [
                ("null", f"{profile['null_share']:.1%}"),
                ("distinct", f"{profile['distinct']:,}"),
            ]
            if profile["min"] is not None:
                rows += [
                    ("min", escaped_name(profile["min"], 30)),
                    ("max", escaped_name(profile["max"], 30)),
                ]
            numbers = np.asarray(profile["numbers"], dtype=np.float64)
            numbers = numbers[np.isfinite(numbers)]  # NaN and inf are doubles, not bins
            spread = float(numbers.max() - numbers.min()) if numbers.size else 0.0
            if numbers.size and np.isfinite(spread):  # 1e308 and -1e308: no bins either
                counts, _ = np.histogram(numbers, bins=16)
                chart = spark_bars(counts.tolist(), f"distribution of {column.name}")
            if profile["top"] and profile["top"][0][1] > 1:  # all distinct: nothing to show
                for value, count in profile["top"]:
                    rows.append((escaped_name(value, 22), f"{count:,}"))
        else:
            total = evidence.get("rows") or 0
            if total:
                rows.append(("null", f"{evidence.get('null_count', 0) / total:.1%}"))
            for key in ("min", "max"):
                if evidence.get(key) is not None:
                    rows.append((key, escaped_name(evidence[key], 30)))
        body = "".join(f"<tr><td class='muted'>{k}</td><td>{v}</td></tr>" for k, v in rows)
        nullable = "" if column.nullable else " " + badge("NOT NULL")
        cards.append(
            f'<div class="profile"><div class="name">{escaped_name(column.name)}</div>'
            f"{badge(column.type)}{nullable}<table>{body}</table>{chart}</div>"
        )
    return f'<div class="profiles">{"".join(cards)}</div>'
