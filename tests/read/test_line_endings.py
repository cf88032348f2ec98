"""Line endings from old Macs (bare CR) are line endings; a stray CR inside a line is not."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from csvdock.core.settings import TableSettings
from csvdock.read.extract import RECORDS_FILE, REJECTS_FILE, extract_file


def _extract(tmp_path: Path, data: bytes) -> tuple[dict, pl.DataFrame, pl.DataFrame]:
    source = tmp_path / "in.csv"
    source.write_bytes(data)
    result = extract_file(source, tmp_path / "out", TableSettings())
    records = pl.read_parquet(tmp_path / "out" / RECORDS_FILE)
    rejects = pl.read_parquet(tmp_path / "out" / REJECTS_FILE)
    return result.dialect, records, rejects


def test_a_file_with_bare_cr_line_endings_loads_with_editor_line_numbers(tmp_path: Path):
    dialect, records, rejects = _extract(tmp_path, b'id|name\r1|"a\rb"\r2|Bo\r3|Cy\r')
    assert dialect["newline"] == "\\r" and rejects.height == 0
    assert records["id"].to_list() == ["1", "2", "3"]
    assert records["name"].to_list() == ["a\rb", "Bo", "Cy"]  # a CR inside quotes is data
    assert records["__line"].to_list() == [2, 3, 4]


def test_a_stray_cr_inside_a_line_of_an_lf_file_splits_nothing(tmp_path: Path):
    dialect, records, rejects = _extract(tmp_path, b"id,name\n1,A\rn\n2,Bo\n3,Cy\n")
    assert dialect["newline"] == "\\n"
    assert records.height + rejects.height == 3
    assert "2" in records["id"].to_list() and "3" in records["id"].to_list()


def test_mixed_endings_and_a_lone_cr_at_the_end_lose_no_record(tmp_path: Path):
    _, records, rejects = _extract(tmp_path, b"id,name\r\n1,Ann\n2,Bo\r\n3,Cy\r")
    assert rejects.height == 0
    assert records.select("id", "name").rows() == [("1", "Ann"), ("2", "Bo"), ("3", "Cy")]
