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

from csvdock.core.runs import FileResult, run_totals
from csvdock.core.workspace import Workspace
from csvdock.report.kernel import ReportKernel, current_kernel, execute_on, report_kernel

log = logging.getLogger("csvdock")
NOTEBOOKS_DIR = Path(__file__).resolve().parents[3] / "notebooks"
REPORTS = {"schema": "schema_report", "errors": "error_report"}
KERNEL_LOG = "kernel.log"  # the report kernel's own output, in the run's folder
_OUTSIDE_SCRIPT = re.compile(r'<script[^>]+src="https?://[^"]*"[^>]*>\s*</script>')


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


def write_runs_index(workspace: Workspace) -> Path:
    """Write ``runs/index.html``: every run, newest first, with its counts and report links."""
    runs_dir = workspace.root / "runs"
    rows = []
    for summary_path in sorted(runs_dir.glob("*/summary.json"), reverse=True):
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        files = summary.get("files", [])
        totals = run_totals([FileResult(**f) for f in files])
        statuses: dict[str, int] = {}
        for f in files:
            statuses[f["status"]] = statuses.get(f["status"], 0) + 1
        reports = summary.get("reports") or {}
        links = " ".join(
            f'<a href="{html.escape(Path(reports[k]).relative_to(runs_dir).as_posix())}">{k}</a>'
            for k in ("schema", "errors")
            if isinstance(reports.get(k), str) and Path(reports[k]).is_relative_to(runs_dir)
        )
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(cell))}</td>"
                for cell in (
                    summary.get("run_id", summary_path.parent.name),
                    summary.get("mode", ""),
                    ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())),
                    totals["read"],
                    totals["loaded"],
                    totals["rejected"],
                    totals["not_loaded"],
                )
            )
            + f"<td>{links or '-'}</td></tr>"
        )
    page = runs_dir / "index.html"
    runs_dir.mkdir(parents=True, exist_ok=True)
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "run",
            "mode",
            "files",
            "rows read",
            "loaded",
            "rejected",
            "not loaded (skipped, quarantined, failed)",
            "reports",
        )
    )
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>csvdock runs</title>"
        "<style>body{font-family:sans-serif}td,th{padding:4px 10px;border-bottom:1px solid #ddd;"
        "text-align:left}</style></head><body><h1>csvdock runs</h1>"
        f"<table><tr>{head}</tr>{''.join(rows)}</table></body></html>",
        encoding="utf-8",
    )
    return page
