"""The report's pieces on their own: KPIs, escaping, marking, what to do; and the explore
notebook run top to bottom with papermill."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
from csvdock.report import charts
from csvdock.report import data as rd
from csvdock.report import html as h


def summary(files: list[dict]) -> dict:
    return {
        "run_id": "20261128T100000Z-abcdef",
        "finished_at": "2026-11-28T10:00:04.000000Z",
        "mode": "etl",
        "target": "duckdb:///w.duckdb",
        "files": files,
    }


def result(status: str, read: int, loaded: int, rejected: int, **extra: object) -> dict:
    return {
        "path": "a.csv",
        "table": "a",
        "status": status,
        "rows_read": read,
        "rows_loaded": loaded,
        "rows_rejected": rejected,
        **extra,
    }


def test_the_kpis_add_up() -> None:
    kpis = rd.run_kpis(
        summary(
            [
                result("loaded", 100, 90, 10, lines_outside_table=3),
                result("quarantined", 0, 0, 0),
            ]
        )
    )
    assert (kpis["read"], kpis["loaded"], kpis["rejected"], kpis["outside"]) == (100, 90, 10, 3)
    assert kpis["reject_rate"] == 0.1 and kpis["quarantined"] == 1
    assert kpis["seconds"] == 4.0 and kpis["rows_per_s"] == 22.5
    strip = h.run_kpi_strip(kpis)
    assert "10.00%" in strip and "1 loaded, 1 quarantined" in strip


def test_names_from_files_are_escaped_and_cut() -> None:
    assert h.escaped_name("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    binary = "\x00\x01\x02" + "x" * 100
    shown = h.escaped_name(binary)
    assert shown.startswith("???") and shown.endswith("…") and len(shown) == 48
    table = h.table(pl.DataFrame({"name": ["<b>bold</b>"]}))
    assert "&lt;b&gt;bold&lt;/b&gt;" in table and "<b>bold</b>" not in table


def test_a_table_formats_numbers_ratios_and_missing_values() -> None:
    frame = pl.DataFrame(
        {
            "file": ["a<1>.csv", None],
            "rows": [1234567, None],
            "rejected %": [0.1234, None],
            "link": ['<a href="x">x</a>', None],
        }
    )
    table = h.table(frame, html_columns=("link",), title="Files & more")
    cells = re.findall(r"<td[^>]*>(.*?)</td>", table)
    assert cells == ["a&lt;1&gt;.csv", "1,234,567", "12.3%", '<a href="x">x</a>', "", "", "", ""]
    assert "<caption>Files &amp; more</caption>" in table
    assert table.count("class=num") == 6  # two numeric columns: their header and two cells


def test_the_charts_are_svg_drawn_without_a_plotting_library() -> None:
    code = (
        "import sys; from csvdock.report import charts, html; "
        "svg = charts.bar_chart(['parse: <x>', 'cast'], [3, 1], 'Rejects & reasons'); "
        "line = charts.trend(['20261128T183106Z-f2a355', 'b'], [1.5, None], 'Duration', unit='s'); "
        "assert 'matplotlib' not in sys.modules and 'great_tables' not in sys.modules; "
        "print(svg); print(line)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    bars, line = out.stdout.splitlines()
    assert bars.startswith('<svg class="chart" role="img" aria-label="Rejects &amp; reasons"')
    assert "<title>Rejects &amp; reasons</title>" in bars and "parse: &lt;x&gt;" in bars
    assert bars.count("<rect ") == 2 and ">3</text>" in bars
    assert "11-28 18:31" in line and line.count("<circle ") == 2 and '<path d="M' in line
    assert charts.nice_ticks(3, integer=True) == [0, 1, 2, 3]
    assert charts.nice_ticks(0.17, count=4) == [0, 0.1, 0.2]


def test_the_offending_value_is_marked_and_the_rest_escaped() -> None:
    marked = h.marked_record("1,<x>,abc", "abc")
    assert marked == '<span class="raw">1,&lt;x&gt;,<mark>abc</mark></span>'
    assert "<mark>" not in h.marked_record("1,2", None)


def test_what_to_do_decides_on_the_code_not_the_text() -> None:
    """Issue 27, item 10: a reason's text may say anything; the code decides."""
    misleading = "the word threshold and encoding and binary appear here"
    cases = {
        "encoding": "--encoding",
        "over_threshold": "--max-rejects",
        "not_text": "export it again as CSV",
        "too_many_columns": "--target duckdb",
        "quoting": "pin the dialect",
    }
    for code, expected in cases.items():
        result = {"path": "a.csv", "status": "quarantined", "reason": misleading, "code": code}
        assert expected in rd.what_to_do(result), code
    assert "run again" in rd.what_to_do(
        {"path": "a.csv", "status": "failed", "retryable": True, "reason": "target down"}
    )


def test_the_changes_are_chips_in_colour() -> None:
    chips = h.change_chips(
        [
            {"change": "added", "column": "b", "type": "text"},
            {"change": "widened", "column": "a", "from": "integer", "to": "bigint"},
            {"change": "missing", "column": "c"},
        ]
    )
    assert 'class="chip added">added b: text' in chips
    assert 'class="chip widened">widened a: integer → bigint' in chips
    assert 'class="chip missing">missing c' in chips


def _explore(workdir: Path, out: str) -> str:
    """Run the explore notebook on users.csv with papermill; return the HTML it showed."""
    notebook = Path(__file__).resolve().parents[2] / "notebooks" / "explore.ipynb"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(notebook),
            out,
            "-p",
            "paths",
            '["users.csv"]',
            "-p",
            "table",
            "users",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    executed = json.loads((workdir / out).read_text())
    return "".join(
        "".join(output.get("data", {}).get("text/html", ""))
        for cell in executed["cells"]
        for output in cell.get("outputs", [])
    )


def test_the_explore_notebook_runs_top_to_bottom(workdir: Path) -> None:
    (workdir / "users.csv").write_text("id,name,age\n1,Ann,34\n2,Bob,x\n3,Cy\n")
    shown = _explore(workdir, "out.ipynb")
    assert "The first rows of users" in shown and "Ann" in shown
    assert "Schema v1" in shown
    assert "rejected records" in shown  # 3,Cy has a field missing
    # Run again: the file is skipped, and its dead letters still wait (not "No rejects.").
    shown = _explore(workdir, "again.ipynb")
    assert "No rejects in this run." in shown and "wait for replay" in shown
