"""Extract's DuckDB count of a file read from its source begins while the record index is built
(``EarlyCount``): its options are guessed from the first line, and the count is taken only where
they are the ones the index decides; the plan is the one a count made afterwards gives. A file
without quote bytes is counted from a copy of its header and ragged records: the plan and the
rejects are the ones the count of the whole file gives."""

from __future__ import annotations

import threading
from pathlib import Path

import polars as pl
import pytest
from csvdock.core.settings import load_settings
from csvdock.read import early_count, parse
from csvdock.read.errors import ExtractError
from csvdock.read.extract import REJECTS_FILE, ExtractResult, extract_file

from tests.conftest import SHARED

# (a quoted field past the first line: the file is counted whole, early where the guess holds)
LINES = ["id,name,amount"] + [f"{i},user {i},{i}.50" for i in range(5_000)] + ['5000,"a, b",1']
FILES = {
    "lf": "\n".join(LINES) + "\n",  # the guess holds: the early count is taken
    "ragged": "\n".join([*LINES[:100], "100,x,1,extra", *LINES[100:]]) + "\n",
    "crlf": "\r\n".join(LINES) + "\r\n",  # no guess (a CR in the first line)
    "quoted header": '"id",name,amount\n' + "\n".join(LINES[1:]) + "\n",  # no guess
    "no header": "\n".join(LINES[1:]) + "\n",  # the guess (a header) is wrong: counted again
}


@pytest.mark.parametrize("kind", FILES)
def test_an_early_count_gives_the_plan_a_later_count_gives(
    workdir: Path, kind: str, monkeypatch: pytest.MonkeyPatch
):
    source = workdir / "f.csv"
    source.write_bytes(FILES[kind].encode("utf-8"))
    settings = load_settings().for_table("t")
    threads: list[str] = []
    counted = parse.count_with_duckdb

    def count(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return counted(*args, **kwargs)

    monkeypatch.setattr(parse, "count_with_duckdb", count)
    monkeypatch.setattr(early_count, "count_with_duckdb", count)
    early = extract_file(source, workdir / "early", settings, None, True)
    used_early = threads == [n for n in threads if n != threading.main_thread().name]
    threads.clear()
    monkeypatch.setattr(early_count, "_first_line_fields", lambda *_: 0)  # no early count
    later = extract_file(source, workdir / "later", settings, None, True)
    assert threads == [threading.main_thread().name]
    assert early.plan is not None and later.plan is not None
    assert {**early.plan, "index": ""} == {**later.plan, "index": ""}
    assert (early.rows_read, early.rows_rejected) == (later.rows_read, later.rows_rejected)
    assert used_early == (kind in ("lf", "ragged"))


def _extract_both_ways(source: Path, out: Path) -> tuple[ExtractResult, ExtractResult, list[Path]]:
    """Extract ``source`` planned twice: as it goes (``ragged`` lists the files counted from the
    copy of their ragged records), and with the whole file counted."""
    settings = load_settings().for_table("t")
    ragged: list[Path] = []
    by_copy = early_count._ragged_counted

    def spied(indexed, *args):
        ragged.append(indexed.path)
        return by_copy(indexed, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(early_count, "_ragged_counted", spied)
        copied = extract_file(source, out / "ragged", settings, None, True)
        patch.setattr(early_count, "_lines_alone", lambda _: False)
        whole = extract_file(source, out / "whole", settings, None, True)
    return copied, whole, ragged


def _same_extract(copied: ExtractResult, whole: ExtractResult, out: Path) -> None:
    assert (copied.plan is None) == (whole.plan is None)
    if copied.plan is not None and whole.plan is not None:
        assert {**copied.plan, "index": ""} == {**whole.plan, "index": ""}
    assert (copied.rows_read, copied.rows_rejected) == (whole.rows_read, whole.rows_rejected)
    assert pl.read_parquet(out / "ragged" / REJECTS_FILE).equals(
        pl.read_parquet(out / "whole" / REJECTS_FILE)
    )


HEADER, ROW = "id,name,amount", "1,ann,2.50"
LINE_FILES = {
    "clean": [HEADER, *[ROW] * 50],
    "too many fields": [HEADER, ROW, "2,bob,3,extra", ROW, "3,cy,4,x,y,z"],
    "too few fields": [HEADER, ROW, "2,bob", "3", ROW],
    "an empty last field": [HEADER, ROW, "2,bob,3,", ROW],  # (DuckDB takes it: no plan)
    "a line of spaces": [HEADER, ROW, "   ", ROW],
    "blank lines": [HEADER, ROW, "", "2,bob,3,x", "", "", ROW, ""],
    "ragged first and last": [HEADER, "0,x", *[ROW] * 5, "9,y,1,2"],
    "no header": ["1,2,3", "4,5,6,7", "8,9,10"],
    "tabs": ["id\tname", "1\tann", "2\tbob\tx", "3\tcy"],
}


@pytest.mark.parametrize("ending", ["\n", "\r\n", "none"])
@pytest.mark.parametrize("kind", LINE_FILES)
def test_a_file_without_quotes_is_counted_from_its_ragged_records_as_from_itself(
    workdir: Path, kind: str, ending: str
):
    lines = LINE_FILES[kind]
    text = (ending if ending != "none" else "\n").join(lines) + ("" if ending == "none" else ending)
    source = workdir / "f.csv"
    source.write_bytes(text.encode("utf-8"))
    copied, whole, ragged = _extract_both_ways(source, workdir)
    assert ragged == [source]  # (each counted from the copy of its ragged records)
    _same_extract(copied, whole, workdir)
    if kind in ("too many fields", "too few fields", "blank lines", "ragged first and last"):
        assert copied.plan is not None and copied.rows_rejected > 0


def test_a_file_with_a_line_longer_than_the_source_reads_is_counted_whole(workdir: Path):
    source = workdir / "f.csv"
    long_value = "x" * (parse.SHORT_LINE_BYTES + 10)
    source.write_text(f"{HEADER}\n{ROW}\n1,{long_value},2\n{ROW}\n", encoding="utf-8")
    copied, whole, ragged = _extract_both_ways(source, workdir)
    assert ragged == []
    _same_extract(copied, whole, workdir)


CORPUS = [
    p
    for folder in ("csv-spectrum", "duckdb-csv", "plotly-datasets")
    if (SHARED / "corpus" / folder).is_dir()
    for p in sorted((SHARED / "corpus" / folder).rglob("*"))
    if p.is_file()
    and p.suffix.lower() in (".csv", ".tsv", ".txt")
    and p.stat().st_size < 1 << 20
    and b'"' not in p.read_bytes()  # (a file with quotes is counted whole either way)
]


@pytest.mark.skipif(not CORPUS, reason="../shared/corpus is not present")
def test_every_corpus_file_without_quotes_gives_the_plan_its_whole_count_gives(workdir: Path):
    """Over the corpora (the untuned plotly-datasets included), each file is extracted with
    its plan both ways: the same plan, records and rejects."""
    counted_from_copy = 0
    for number, path in enumerate(CORPUS):
        out = workdir / str(number)
        try:
            copied, whole, ragged = _extract_both_ways(path, out)
        except ExtractError:
            continue  # (quarantined either way: not the count's doing)
        counted_from_copy += bool(ragged)
        _same_extract(copied, whole, out)
    assert counted_from_copy > len(CORPUS) // 2
