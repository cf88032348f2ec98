"""Per-run reports: papermill executes the notebooks in ``notebooks/`` with the run's parameters
(through its Python API, in this process), nbconvert renders them to self-contained HTML with the
code hidden, and ``runs/index.html`` lists every run."""

from __future__ import annotations

import html
import json
import logging
import re
import time
from pathlib import Path
from typing import Any

from csvdock.core.runs import FileResult, run_seconds, run_totals
from csvdock.core.workspace import Workspace
from csvdock.report.kernel import ReportKernel, current_kernel, execute_on, report_kernel

log = logging.getLogger("csvdock")


def _notebooks_dir() -> Path:
    """Return the folder of the report notebooks: the installed package's (a wheel carries
    them as ``csvdock.notebooks``), else the repository's ``notebooks/``."""
    from importlib.resources import files

    found = Path(str(files("csvdock"))) / "notebooks"
    if (found / "error_report.ipynb").exists():
        return found
    return Path(__file__).resolve().parents[3] / "notebooks"


NOTEBOOKS_DIR = _notebooks_dir()
REPORTS = {"schema": "schema_report", "errors": "error_report"}
KERNEL_LOG = "kernel.log"  # the report kernel's own output, in the run's folder
# Scripts that would fetch something (MathJax from a CDN; mermaid, imported only for diagrams):
# the reports are offline pages, so they go.
_OUTSIDE_SCRIPT = re.compile(
    r'<script[^>]+src="https?://[^"]*"[^>]*>\s*</script>'
    r"|<script\b[^>]*>(?:(?!</script>).)*?import\(\s*\"https?://(?:(?!</script>).)*?</script>",
    re.S,
)


def render_run_reports(
    summary_path: Path, workspace: Path, schemas_dir: Path, notebooks_dir: Path | None = None
) -> dict[str, str]:
    """Execute both report notebooks for one run on one kernel (the run's, when it started one
    early: ``csvdock.report.kernel``); return the HTML paths by report name."""
    kernel = current_kernel()
    if kernel is not None:
        return _render(kernel, summary_path, workspace, schemas_dir, notebooks_dir)
    with report_kernel(summary_path.parent / KERNEL_LOG) as own:
        return _render(own, summary_path, workspace, schemas_dir, notebooks_dir)


def _render(
    kernel: ReportKernel,
    summary_path: Path,
    workspace: Path,
    schemas_dir: Path,
    notebooks_dir: Path | None,
) -> dict[str, str]:
    from nbconvert import HTMLExporter

    notebooks_dir = notebooks_dir or NOTEBOOKS_DIR
    run_dir = summary_path.parent
    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    paths: dict[str, str] = {}
    for key, name in REPORTS.items():
        started = time.perf_counter()
        executed = run_dir / f"{name}.ipynb"
        execute_on(
            kernel,
            notebooks_dir / f"{name}.ipynb",
            executed,
            summary_path=str(summary_path),
            workspace=str(workspace),
            schemas_dir=str(schemas_dir),
        )
        body, _ = exporter.from_filename(str(executed))
        body = _OUTSIDE_SCRIPT.sub("", body)  # self-contained: the page loads nothing from outside
        page = run_dir / f"{name}.html"
        page.write_text(body, encoding="utf-8")
        paths[key] = str(page)
        log.info("%s: %s in %.1f s", run_dir.name, page.name, time.perf_counter() - started)
    return paths


INDEX_TRENDS = 60  # the latest runs the index's charts show


def _started(summary: dict[str, Any]) -> str:
    """Return when a run started, as text that sorts by time."""
    return str(summary.get("started_at") or summary.get("finished_at") or "")


def write_runs_index(workspace: Workspace) -> Path:
    """Write ``runs/index.html``: how runs trend (rows loaded, reject rate, duration, rows/s:
    inline SVG charts), then every run, newest first, in a table a text box filters, with its
    counts and report links. Self-contained: no script or style is fetched."""
    from csvdock.report import charts
    from csvdock.report.html import STYLE, escaped_name

    runs_dir = workspace.root / "runs"
    runs = []
    for summary_path in runs_dir.glob("*/summary.json"):
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        summary.setdefault("run_id", summary_path.parent.name)
        files = summary.get("files", [])
        totals = run_totals([FileResult(**f) for f in files])
        runs.append((summary_path, summary, files, totals, run_seconds(summary)))
    # By start time (a run id given by the caller sorts among the others by when it ran).
    runs.sort(key=lambda run: _started(run[1]))
    recent = runs[-INDEX_TRENDS:]
    ids = [r[1].get("run_id", r[0].parent.name) for r in recent]
    rate = [t["rejected"] / t["read"] * 100 if t["read"] else 0.0 for _, _, _, t, _ in recent]
    trends = [
        charts.trend(ids, [t["loaded"] for _, _, _, t, _ in recent], "Rows loaded per run"),
        charts.trend(ids, rate, "Reject rate per run", charts.RED, "% of rows read"),
        charts.trend(ids, [s or 0.0 for *_, s in recent], "Duration per run", charts.GREY, "s"),
        charts.trend(
            ids,
            [t["loaded"] / s if s else 0.0 for _, _, _, t, s in recent],
            "Rows loaded per second",
            charts.GREEN,
        ),
    ]
    rows = []
    for summary_path, summary, files, totals, seconds in reversed(runs):
        statuses: dict[str, int] = {}
        for f in files:
            statuses[f["status"]] = statuses.get(f["status"], 0) + 1
        reports = summary.get("reports") or {}
        links = " ".join(
            f'<a href="{html.escape(Path(reports[k]).relative_to(runs_dir).as_posix())}">{k}</a>'
            for k in ("schema", "errors")
            if isinstance(reports.get(k), str) and Path(reports[k]).is_relative_to(runs_dir)
        )
        bad = statuses.get("failed", 0) + statuses.get("quarantined", 0)
        tables = ", ".join(sorted({escaped_name(f["table"], 30) for f in files}))
        cells = [
            html.escape(summary.get("run_id", summary_path.parent.name)),
            html.escape(summary.get("mode", "")),
            tables,
            html.escape(", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))),
            f"{totals['read']:,}",
            f"{totals['loaded']:,}",
            f"{totals['rejected']:,}",
            f"{totals['not_loaded']:,}",
            f"{seconds:,.0f} s" if seconds is not None else "-",
            links or "-",
        ]
        tone = ' class="bad"' if bad else ""
        rows.append(f"<tr{tone}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "run",
            "mode",
            "tables",
            "files",
            "rows read",
            "loaded",
            "rejected",
            "not loaded",
            "duration",
            "reports",
        )
    )
    page = runs_dir / "index.html"
    runs_dir.mkdir(parents=True, exist_ok=True)
    page.write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>csvdock runs</title>"
        + STYLE
        + "<style>.trends{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));"
        "gap:8px}table.runs{border-collapse:collapse;width:100%;font-size:13px}"
        "table.runs td,table.runs th{padding:4px 8px;border-bottom:1px solid #e3e3e3;"
        "text-align:left}table.runs tr.bad td{background:#fff5f5}#filter{padding:5px 8px;"
        "width:320px;margin:6px 0}</style></head><body><div class='csvdock'>"
        f"<h1>csvdock runs</h1><p class='muted'>{len(runs)} run(s); the charts show the latest "
        f"{len(recent)}, oldest first.</p>"
        f"<div class='trends'>{''.join(trends) if recent else ''}</div>"
        "<h2>Runs</h2><input id='filter' type='search' placeholder='Filter runs: id, table, "
        "status...' aria-label='Filter runs'>"
        f"<table class='runs'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
        "</table></div><script>"
        "document.getElementById('filter').addEventListener('input',function(e){"
        "var q=e.target.value.toLowerCase();"
        "document.querySelectorAll('table.runs tbody tr').forEach(function(r){"
        "r.style.display=r.textContent.toLowerCase().indexOf(q)<0?'none':'';});});"
        "</script></body></html>",
        encoding="utf-8",
    )
    return page
