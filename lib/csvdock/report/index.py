"""``runs/index.html``: how runs trend (rows loaded, reject rate, duration, rows/s: inline SVG
charts), then every run, newest first, in a table a text box filters, with its counts and report
links. Self-contained: no script or style is fetched. The page is a Jinja2 template
(``templates/runs_index.html``) that escapes every value it is given."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from csvdock.core.runs import FileResult, run_seconds, run_totals
from csvdock.core.workspace import Workspace

INDEX_TRENDS = 60  # the latest runs the index's charts show
HEADINGS = (
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


@dataclass
class _Run:
    summary_path: Path
    summary: dict[str, Any]
    files: list[dict[str, Any]]
    totals: dict[str, int]
    seconds: float | None

    @property
    def run_id(self) -> str:
        return str(self.summary.get("run_id") or self.summary_path.parent.name)

    @property
    def started(self) -> str:
        """When the run started, as text that sorts by time (a run id given by the caller
        sorts among the others by when it ran)."""
        return str(self.summary.get("started_at") or self.summary.get("finished_at") or "")


def write_runs_index(workspace: Workspace) -> Path:
    """Write ``runs/index.html`` for every run in ``workspace``; return its path."""
    from csvdock.report.html import STYLE

    runs_dir = workspace.root / "runs"
    runs = sorted(_runs(runs_dir), key=lambda run: run.started)
    recent = runs[-INDEX_TRENDS:]
    page = index_template().render(
        style=_markup(STYLE),
        trends=[_markup(chart) for chart in _trends(recent)] if recent else [],
        trend_count=len(recent),
        headings=HEADINGS,
        runs=[_row(run, runs_dir) for run in reversed(runs)],
    )
    runs_dir.mkdir(parents=True, exist_ok=True)
    path = runs_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


@functools.cache
def index_template() -> Any:
    """Return the runs index's Jinja2 template, loaded once a process (the first load, Jinja2's
    import included, is 0.15 s: done while a run's files load, ``csvdock.report.kernel``)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    environment = Environment(
        loader=PackageLoader("csvdock.report", "templates"), autoescape=select_autoescape()
    )
    return environment.get_template("runs_index.html")


def _runs(runs_dir: Path) -> list[_Run]:
    runs = []
    for summary_path in runs_dir.glob("*/summary.json"):
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        files = summary.get("files", [])
        totals = run_totals([FileResult(**f) for f in files])
        runs.append(_Run(summary_path, summary, files, totals, run_seconds(summary)))
    return runs


def _trends(recent: list[_Run]) -> list[str]:
    from csvdock.report import charts

    ids = [run.run_id for run in recent]
    totals = [run.totals for run in recent]
    rate = [t["rejected"] / t["read"] * 100 if t["read"] else 0.0 for t in totals]
    seconds = [run.seconds or 0.0 for run in recent]
    per_second = [t["loaded"] / s if s else 0.0 for t, s in zip(totals, seconds, strict=True)]
    return [
        charts.trend(ids, [t["loaded"] for t in totals], "Rows loaded per run"),
        charts.trend(ids, rate, "Reject rate per run", charts.RED, "% of rows read"),
        charts.trend(ids, seconds, "Duration per run", charts.GREY, "s"),
        charts.trend(ids, per_second, "Rows loaded per second", charts.GREEN),
    ]


def _row(run: _Run, runs_dir: Path) -> dict[str, Any]:
    """Return one run's cells (text, escaped by the template; links as markup) and whether a
    file of it was quarantined or failed."""
    from csvdock.report.html import escaped_name

    statuses: dict[str, int] = {}
    for f in run.files:
        statuses[f["status"]] = statuses.get(f["status"], 0) + 1
    totals = run.totals
    cells = [
        run.run_id,
        str(run.summary.get("mode", "")),
        _markup(", ".join(sorted({escaped_name(f["table"], 30) for f in run.files}))),
        ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())),
        f"{totals['read']:,}",
        f"{totals['loaded']:,}",
        f"{totals['rejected']:,}",
        f"{totals['not_loaded']:,}",
        f"{run.seconds:,.0f} s" if run.seconds is not None else "-",
        _report_links(run.summary, runs_dir) or "-",
    ]
    return {"cells": cells, "bad": statuses.get("failed", 0) + statuses.get("quarantined", 0)}


def _report_links(summary: dict[str, Any], runs_dir: Path) -> Any:
    from markupsafe import Markup

    reports = summary.get("reports") or {}
    links = [
        Markup('<a href="{}">{}</a>').format(Path(reports[k]).relative_to(runs_dir).as_posix(), k)
        for k in ("schema", "errors")
        if isinstance(reports.get(k), str) and Path(reports[k]).is_relative_to(runs_dir)
    ]
    return Markup(" ").join(links)


def _markup(trusted_html: str) -> Any:
    """Return HTML csvdock made itself (escaped where it holds data) as template markup."""
    from markupsafe import Markup

    return Markup(trusted_html)
