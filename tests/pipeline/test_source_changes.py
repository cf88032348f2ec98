"""One version of a file per run (issue 25, item 2): a file that changes while a run reads it,
or between its Extract and the commit, fails that run for a transient reason (read again later)
and nothing of it is loaded."""

from __future__ import annotations

from pathlib import Path

import csvdock
from csvdock.read import extract

from tests.conftest import open_warehouse


def test_a_file_changed_while_it_is_read_is_read_again(workdir: Path, monkeypatch):
    source = workdir / "moving.csv"
    source.write_text("id,n\n1,2\n2,3\n", encoding="utf-8")
    original = extract._extract

    def extract_then_append(path, out_dir, settings, sha256, *rest):
        result = original(path, out_dir, settings, sha256, *rest)
        with path.open("a") as handle:  # a writer appends during the run
            handle.write("3,4\n")
        return result

    monkeypatch.setattr(extract, "_extract", extract_then_append)
    summary = csvdock.ingest([source], target="duckdb:///w.duckdb")
    (result,) = summary.files
    assert result.status == "failed" and result.retryable is True
    assert "changed while it was read" in (result.reason or "")
    monkeypatch.setattr(extract, "_extract", original)  # (undo() would leave the workdir too)
    again = csvdock.ingest([source], target="duckdb:///w.duckdb")
    assert again.files[0].status == "loaded" and again.files[0].rows_loaded == 3


def test_a_file_replaced_before_the_commit_is_not_committed(workdir: Path, monkeypatch):
    from csvdock.pipeline import file_load

    source = workdir / "swapped.csv"
    source.write_text("id,n\n1,2\n2,3\n", encoding="utf-8")
    original = file_load.check_unchanged

    def replaced_first(path, size):
        path.write_text("id,n\n9,9\n", encoding="utf-8")  # mv'd over between Extract and Load
        original(path, size)

    monkeypatch.setattr(file_load, "check_unchanged", replaced_first)
    summary = csvdock.ingest([source], target="duckdb:///w.duckdb", table="swapped")
    (result,) = summary.files
    assert result.status == "failed" and result.retryable is True
    with open_warehouse("duckdb:///w.duckdb") as warehouse:
        assert warehouse.table_types("main", "swapped") is None  # nothing committed
