"""DuckDB's own CSV test files (../shared/corpus/duckdb-csv: real-world samples, encodings,
comments, broken and unquoted-escape files): every file ends ``loaded`` with every line
accounted for, or ``quarantined`` with a reason, never ``failed`` and never a traceback; no file
loads fewer rows than it did before (tests/read/corpus_baseline.json); and the files whose
reading is understood load exactly as expected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SHARED

WILD = SHARED / "corpus" / "duckdb-csv"
BASELINE = json.loads((Path(__file__).parent / "corpus_baseline.json").read_text())["files"]
FILES = (
    sorted(p for p in WILD.rglob("*") if p.is_file() and p.suffix.lower() in (".csv", ".tsv"))
    if WILD.is_dir()
    else []
)
FOLDERS = sorted({p.relative_to(WILD).parts[0] for p in FILES})

# (status, rows loaded, rows rejected, lines outside the table) of files read by hand.
EXPECTED = {
    "comments/simple.csv": ("loaded", 2, 0, 4),  # 3 comments above and in, 1 below
    "comments/invalid_rows.csv": ("loaded", 2, 0, 7),  # notes and comments above, in, below
    "comments/empty_space.csv": ("loaded", 4, 0, 2),  # no header; indented comment lines
    "inconsistencies/line_with_spaces.csv": ("loaded", 4, 0, 1),  # a title above the header
    "auto/skip_row.csv": ("loaded", 1, 0, 1),  # "some notes..." above the header
    "test/test.csv": ("loaded", 5000, 0, 0),  # no header: the first row is data
    "decimal_separators/mixed_format_fail.csv": ("loaded", 3, 0, 0),  # one column, "12,5"
    "encodings/all_utf16.csv": ("loaded", 63486, 0, 0),  # one column of every character
    "test/empty.csv": ("skipped", 0, 0, 0),  # no records, no table yet: nothing to create
    "auto/titlebasicsdebug.tsv": ("loaded", 3002, 0, 0),  # IMDb: quotes are text throughout
    "unquoted_escape/plain.csv": ("loaded", 10, 0, 0),  # \, \\ \" outside quotes
    "unquoted_escape/mixed.csv": ("loaded", 4, 0, 0),  # ... inside and outside quotes
    "unquoted_escape/basic.tsv": ("loaded", 19, 0, 0),  # ... and escaped line ends
    "unquoted_escape/human_eval.tsv": ("loaded", 10, 0, 0),  # code with escaped line ends
}


def _folder_files(folder: str) -> list[Path]:
    return [p for p in FILES if p.relative_to(WILD).parts[0] == folder]


@pytest.mark.skipif(not FILES, reason="../shared/corpus/duckdb-csv is not present")
@pytest.mark.parametrize("folder", FOLDERS or ["none"])
def test_every_file_of_the_wild_corpus_loads_or_is_quarantined_for_a_reason(
    workdir: Path, folder: str
):
    import csvdock

    worse, unexpected = [], []
    for number, path in enumerate(_folder_files(folder)):
        name = str(path.relative_to(WILD))
        summary = csvdock.ingest(path, table=f"wild_{number}", target="duckdb:///w.duckdb")
        (result,) = summary.files
        assert result.status in ("loaded", "quarantined", "skipped"), (name, result.reason)
        if result.status in ("quarantined", "skipped"):
            assert result.reason and "Traceback" not in result.reason, name
        else:
            assert result.rows_read == result.rows_loaded + result.rows_rejected, name
            _assert_every_line_accounted_for(path, result)
        before = BASELINE[name]
        if before["status"] == "loaded" and (
            result.status != "loaded" or result.rows_loaded < before["rows_loaded"]
        ):
            worse.append((name, before, result.status, result.rows_loaded, result.reason))
        got = (result.status, result.rows_loaded, result.rows_rejected, result.lines_outside_table)
        if name in EXPECTED and got != EXPECTED[name]:
            unexpected.append((name, got, EXPECTED[name]))
    assert not worse
    assert not unexpected


def _assert_every_line_accounted_for(path: Path, result) -> None:
    """Every non-blank line is a header line, outside the table or a record, where the file is
    UTF-8 without quotes or escaped line ends (so a record is one line)."""
    data = path.read_bytes()
    dialect = result.dialect or {}
    if dialect.get("encoding") != "utf-8" or dialect.get("unquoted_escapes"):
        return  # a record may span lines (escaped line ends)
    if b'"' in data or b"'" in data or b"\r" in data:
        return
    lines = sum(1 for line in data.split(b"\n") if line)
    spans = result.outside_table or []
    header = (1 if dialect.get("header") else 0) + sum(
        s["lines"] for s in spans if s["reason"] == "header row"
    )
    assert lines == header + result.lines_outside_table + result.rows_read, path
