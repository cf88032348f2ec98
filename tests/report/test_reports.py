"""Per-run reports: papermill notebooks rendered to HTML, data-driven, never failing a load."""

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.edges.test_cli import run_cli
from tests.pipeline.test_evolution import FILES as EVOLVING_FILES
from tests.rejects.test_bad_input import CORPUS


@pytest.fixture
def reporting(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CSVDOCK_REPORT", "true")
    return workdir


def ingest(*args: str) -> dict:
    code, out, err = run_cli("ingest", *args, "--json")
    assert code in (0, 1), err
    return json.loads(out)


def html_text(path: str) -> str:
    return re.sub(r"<[^>]+>", " ", Path(path).read_text(encoding="utf-8"))


def test_a_run_with_rejects_and_a_quarantined_file(reporting: Path):
    shutil.copy(CORPUS / "ragged.csv", reporting / "ragged.csv")
    shutil.copy(CORPUS / "compressed.csv", reporting / "compressed.csv")
    summary = ingest("ragged.csv", "compressed.csv")
    reports = summary["reports"]
    assert set(reports) == {"schema", "errors"}
    errors = Path(reports["errors"]).read_text(encoding="utf-8")
    assert re.search(r'<svg[^>]*class="chart"', errors)  # the rejects chart, inline
    assert "https://" not in re.sub(
        r'xmlns[^ ]*|href="https://[^"]*"', "", errors.split("<body")[1]
    )
    assert "<img" not in errors  # nothing to fetch, and no image without alternative text
    outputs = re.findall(r'<div class="[^"]*jp-OutputArea-output[^"]*"[^>]*>', errors)
    assert outputs and all('tabindex="0"' in div for div in outputs)  # a keyboard reaches each
    text = html_text(reports["errors"])
    assert "3 rejects by stage and reason" in text
    assert "missing columns: Expected Number of Columns: 3 Found: 2" in text
    assert "the file is gzip-compressed, not CSV text" in text
    assert "quarantined" in text
    assert Path(reports["errors"]).with_suffix(".ipynb").exists()
    executed = json.loads(Path(reports["schema"]).with_suffix(".ipynb").read_text())
    injected = [
        c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])
    ]
    assert summary["run_id"] in "".join(injected[0]["source"])  # the parameters reached it
    schema_text = html_text(reports["schema"])
    assert "ragged" in schema_text and "The first version of this table." in schema_text


def test_a_schema_change_is_shown(reporting: Path):
    for name, text in EVOLVING_FILES.items():
        (reporting / name).write_text(text)
    ingest("f1.csv", "--table", "people")
    summary = ingest("f3.csv", "--table", "people")
    text = html_text(summary["reports"]["schema"])
    assert re.search(r"people · v2\s+evolved", text) and "Changes from v1:" in text
    page = Path(summary["reports"]["schema"]).read_text()
    assert re.search(r'class="chip widened">widened \w+', page)  # in colour
    assert re.search(r'class="chip added">added \w+', page)


def test_an_empty_run_reads_well(reporting: Path):
    shutil.copy(CORPUS / "header_only.csv", reporting / "header_only.csv")
    summary = ingest("header_only.csv")
    assert "No rejects in this run." in html_text(summary["reports"]["errors"])
    assert "No file was quarantined or failed in this run." in html_text(
        summary["reports"]["errors"]
    )
    index = (reporting / ".csvdock" / "runs" / "index.html").read_text()
    assert summary["run_id"] in index
    assert f'href="{summary["run_id"]}/error_report.html"' in index


def test_the_index_lists_runs_newest_first(reporting: Path):
    (reporting / "a.csv").write_text("x\n1\n")
    (reporting / "b.csv").write_text("y\n2\n")
    first = ingest("a.csv")["run_id"]
    second = ingest("b.csv")["run_id"]
    index = (reporting / ".csvdock" / "runs" / "index.html").read_text()
    assert index.index(second) < index.index(first)


def test_a_failing_report_never_fails_the_load(reporting: Path):
    broken = reporting / "broken"
    broken.mkdir()
    for name in ("schema_report", "error_report"):
        (broken / f"{name}.ipynb").write_text("this is not a notebook")
    (reporting / "luigi.cfg").write_text(f"[csvdock]\nnotebooks_dir = {broken}\n")
    (reporting / "ok.csv").write_text("a\n1\n2\n")
    code, out, _ = run_cli("ingest", "ok.csv", "--json")
    summary = json.loads(out)
    assert code == 0
    assert summary["files"][0]["status"] == "loaded"
    assert summary["reports"]["error"].startswith("the reports could not be made: ")


def test_reports_can_be_switched_off(workdir: Path):
    (workdir / "a.csv").write_text("x\n1\n")
    summary = ingest("a.csv")
    assert summary["reports"] is None
    assert not list((workdir / ".csvdock" / "runs").glob("*/*.html"))


def test_the_lines_outside_the_table_and_the_source_formats_are_shown(reporting: Path):
    (reporting / "sales.csv").write_text(
        "Sales export\nGenerated: 2024-01-31\n\nid;day;amount\n1;28/01/2024;1.234,50\n"
        "2;02/02/2024;12,5\n\nTotal;;1.247,00\n"
    )
    summary = ingest("sales.csv")
    (entry,) = summary["files"]
    assert (entry["rows_loaded"], entry["lines_outside_table"]) == (2, 3)
    text = html_text(summary["reports"]["errors"])
    assert "Lines outside the table" in text
    assert "preamble" in text and "footer" in text
    schema_text = html_text(summary["reports"]["schema"])
    assert "day-first" in schema_text and "decimal-comma" in schema_text


def test_a_column_of_nan_and_infinity_is_profiled_and_reported(reporting: Path):
    """NaN and inf are doubles (issue 24, item 5): the histogram leaves them out, no crash."""
    values = ["0.5", "NaN", "inf", "-inf", "1e299", "-1e299", "0.25"] * 30
    (reporting / "p.csv").write_text("id,p\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)))
    summary = ingest("p.csv")
    assert summary["files"][0]["status"] == "loaded"
    assert set(summary["reports"]) == {"schema", "errors"}, summary["reports"]
    assert "distribution of p" in Path(summary["reports"]["schema"]).read_text(encoding="utf-8")


def test_a_run_with_its_own_id_sorts_by_start_time_and_has_a_duration(reporting: Path):
    """Issue 27, item 6: a daily run's id (given by the caller) is no time."""
    (reporting / "a.csv").write_text("x\n1\n")
    (reporting / "b.csv").write_text("y\n2\n")
    first = ingest("a.csv")["run_id"]
    daily = ingest("b.csv", "--run-id", "0-daily-2026-12-01")
    assert daily["started_at"] and daily["started_at"] <= daily["finished_at"]
    index = (reporting / ".csvdock" / "runs" / "index.html").read_text()
    assert index.index("0-daily-2026-12-01") < index.index(first)  # newest first, by time
    row = index[index.index("0-daily-2026-12-01") :].split("</tr>", 1)[0]
    assert re.search(r">\s*\d+(\.\d+)?\s*s\s*<", row), row  # a duration, not "-"


def test_a_quarantined_file_has_no_reject_share(reporting: Path):
    """Issue 27, item 7: nothing was read, so no "0.0% rejected"."""
    shutil.copy(CORPUS / "compressed.csv", reporting / "compressed.csv")
    summary = ingest("compressed.csv")
    text = html_text(summary["reports"]["errors"])
    row = " ".join(text[text.index("compressed.csv") :].split())[:120]
    assert "quarantined" in row and "%" not in row.split("Rejected records")[0], row


def test_a_kept_kernel_serves_every_run_of_a_long_running_process(reporting: Path):
    """``watch`` keeps one report kernel: each arrival's run renders its reports on it instead
    of starting its own (a run that starts one writes its own kernel.log)."""
    from csvdock import ingest as ingest_files
    from csvdock.report import kernel

    (reporting / "first.csv").write_text("id,name\n1,a\n")
    (reporting / "second.csv").write_text("id,name\n2,b\n3,c\n")
    with kernel.kernel_kept_warm(reporting / "kept.log"):
        kept = kernel._kept
        assert kept is not None and kept.alive()
        runs = [ingest_files(reporting / name) for name in ("first.csv", "second.csv")]
        assert kernel._kept is kept and kept.alive()
    assert not kept.alive()  # shut down with the block
    for summary, rows, name in zip(runs, (1, 2), ("first.csv", "second.csv"), strict=True):
        assert summary.ok and summary.reports
        text = re.sub(r"\s+", " ", html_text(summary.reports["errors"]))
        stem = name.removesuffix(".csv")
        assert f"{name} {stem} loaded {rows} {rows} 0" in text  # file, table, status, counts
        run_dir = Path(summary.reports["errors"]).parent
        assert not (run_dir / "kernel.log").exists()  # no kernel of its own


def test_the_index_escapes_what_comes_from_the_data(reporting: Path):
    """The index shows whatever summaries the workspace holds (one edited by hand, or from an
    older csvdock): its template escapes their text, and its report links stay links."""
    from csvdock.core.workspace import Workspace
    from csvdock.report.index import write_runs_index

    (reporting / "a.csv").write_text("x\n1\n")
    summary_path = Path(ingest("a.csv")["reports"]["errors"]).parent / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["files"][0]["table"] = "<b>odd</b>"
    summary["mode"] = "<i>etl</i>"
    summary_path.write_text(json.dumps(summary))
    index = write_runs_index(Workspace(reporting / ".csvdock")).read_text()
    assert "<b>odd</b>" not in index and "&lt;b&gt;odd&lt;/b&gt;" in index
    assert "<i>etl</i>" not in index and "&lt;i&gt;etl&lt;/i&gt;" in index
    assert re.search(r'<a href="[^"]+/error_report.html">errors</a>', index)


def test_a_run_that_moved_a_table_two_versions_shows_it_once(reporting: Path):
    """Two files of one run, the second evolving the table: one section at the newest version,
    both versions marked as this run's, and the profile counts the rows loaded (a rejected
    record is not in the table)."""
    (reporting / "a.csv").write_text("id,age\n1,30\n2,41\n")
    (reporting / "b.csv").write_text("id,age,email\n3,52,c@x.org\n4,63,d@x.org\n")
    body = "".join(f"{i},{20 + i % 50}\n" for i in range(5, 3004))
    (reporting / "c.csv").write_text("id,age\n" + body + "3004,x\n")  # one misfit: a reject
    summary = ingest("a.csv", "b.csv", "c.csv", "--table", "people")
    assert {f["schema_version"] for f in summary["files"]} == {1, 2}
    text = re.sub(r"\s+", " ", html_text(summary["reports"]["schema"]))
    assert text.count("people · v") == 1 and "people · v2" in text
    assert text.count("◀ this run") == 2
    assert "profiles of the first 3,003 rows loaded by this run" in text  # 3,004 read


def test_a_kernel_that_dies_before_it_answers_fails_the_reports_at_once(tmp_path: Path):
    """The client connects in the background while the files load: a kernel gone before it
    answers makes ``client()`` raise (the run's reports then record the error), not hang."""
    import time

    from csvdock.report.kernel import ReportKernel

    kernel = ReportKernel(tmp_path / "kernel.log")
    try:
        kernel._kill()
        started = time.monotonic()
        with pytest.raises(RuntimeError):
            kernel.client()
        assert time.monotonic() - started < 30
        assert not kernel.alive()
    finally:
        kernel.shutdown()
