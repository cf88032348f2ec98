"""RFC 4180 is preferred: a file with doubled quotes that also holds literal backslashes is read
without a backslash escape, so no text is altered (issue 24, item 4)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl
from csvdock.core.settings import TableSettings
from csvdock.read.extract import extract_file


def test_literal_backslashes_beside_doubled_quotes_are_kept(tmp_path: Path):
    rows = [["id", "name", "url", "appearances"]]
    for n in range(60):
        name = f'Wolverine (James \\"Logan\\" Howlett) {n}' if n % 3 == 0 else f"Hero {n}"
        if n % 4 == 1:
            name = f"Path C:\\heroes\\{n}, copy"
        rows.append([str(n), name, f"http:\\/\\/example.org\\/wiki\\/{n}", str(n * 7)])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)  # RFC 4180: quotes doubled
    path = tmp_path / "marvel.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    assert '\\""Logan\\""' in buffer.getvalue()
    result = extract_file(path, tmp_path / "out", TableSettings())
    assert result.dialect["escape"] == '"'
    records = pl.read_parquet(tmp_path / "out" / "records.parquet")
    assert records["name"].to_list() == [r[1] for r in rows[1:]]
    assert records["url"].to_list() == [r[2] for r in rows[1:]]


def test_a_backslash_escaped_file_still_reads_its_escapes(tmp_path: Path):
    lines = ["id,quote"] + [f'{n},"he said \\"hi {n}\\" twice"' for n in range(30)]
    path = tmp_path / "escaped.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = extract_file(path, tmp_path / "out", TableSettings())
    records = pl.read_parquet(tmp_path / "out" / "records.parquet")
    assert result.dialect["escape"] == "\\"
    assert records["quote"][0] == 'he said "hi 0" twice'
