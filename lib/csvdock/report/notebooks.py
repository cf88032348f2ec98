"""Per-run reports: papermill executes the notebooks in ``notebooks/`` with the run's parameters
(through its Python API, in this process), nbconvert renders them to self-contained HTML with the
code hidden, and ``runs/index.html`` lists every run (``csvdock.report.index``)."""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@functools.cache
def html_exporter() -> Any:
    """Return this process's one HTML exporter of reports (code cells and prompts left out): a
    new one loads its templates again (70 ms; the first in a process 0.2 s)."""
    from nbconvert import HTMLExporter

    class ReportExporter(HTMLExporter):  # type: ignore[misc]
        """nbconvert's HTML exporter without its BeautifulSoup pass over each page. That pass
        gives images without alternative text one (the reports' charts are inline SVG with
        titles) and cells a tab stop (given here), and compiling its CSS selectors cost 0.3 s
        of every run's CPU, on the two cores the files load on."""

        def from_notebook_node(self, nb: Any, resources: Any = None, **kw: Any) -> Any:
            with _pages_kept_as_rendered():
                body, resources = super().from_notebook_node(nb, resources, **kw)
            return _FOCUSABLE.sub(r'\1 tabindex="0"', body), resources

    return ReportExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)


# A cell's input and output elements, given a tab stop as nbconvert's exporter gives them.
_FOCUSABLE = re.compile(r'(<div class="[^"]*\bjp-(?:OutputArea-output|Cell-inputWrapper)\b[^"]*")')


@contextlib.contextmanager
def _pages_kept_as_rendered() -> Iterator[None]:
    """While the block runs, nbconvert's HTML exporter takes its page as rendered (its
    ``BeautifulSoup`` reads the page, finds nothing to change and gives it back)."""
    from nbconvert.exporters import html

    with _exporter_lock:
        soup = html.BeautifulSoup
        html.BeautifulSoup = _RenderedPage  # type: ignore[misc,assignment]
        try:
            yield
        finally:
            html.BeautifulSoup = soup  # type: ignore[misc]


class _RenderedPage:
    def __init__(self, page: str, features: str | None = None) -> None:
        self.page = page

    def select(self, selector: str) -> list[Any]:
        return []

    def __str__(self) -> str:
        return self.page


_exporter_lock = threading.Lock()


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
    notebooks_dir = notebooks_dir or NOTEBOOKS_DIR
    run_dir = summary_path.parent
    exporter = html_exporter()
    paths: dict[str, str] = {}
    for key, name in REPORTS.items():
        started = time.perf_counter()
        executed = run_dir / f"{name}.ipynb"
        notebook = execute_on(
            kernel,
            notebooks_dir / f"{name}.ipynb",
            executed,
            summary_path=str(summary_path),
            workspace=str(workspace),
            schemas_dir=str(schemas_dir),
        )
        # (as ``from_filename`` would read it back: the page's title is the notebook's name)
        resources = {"metadata": {"name": name, "path": str(run_dir)}}
        body, _ = exporter.from_notebook_node(notebook, resources)
        body = _OUTSIDE_SCRIPT.sub("", body)  # self-contained: the page loads nothing from outside
        page = run_dir / f"{name}.html"
        page.write_text(body, encoding="utf-8")
        paths[key] = str(page)
        log.info("%s: %s in %.1f s", run_dir.name, page.name, time.perf_counter() - started)
    return paths
