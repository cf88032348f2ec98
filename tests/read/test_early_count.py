"""Extract's DuckDB count of a file read from its source begins while the record index is built
(``EarlyCount``): its options are guessed from the first line, and the count is taken only where
they are the ones the index decides; the plan is the one a count made afterwards gives."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from csvdock.core.settings import load_settings
from csvdock.read import early_count, parse
from csvdock.read.extract import extract_file

LINES = ["id,name,amount"] + [f"{i},user {i},{i}.50" for i in range(5_000)]
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
