"""The integrity guarantees: no column narrows, no record loads shifted, failures are visible,
counts agree, text is decoded right. Each test failed on the code before the integrity issue."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from csvdock.cli import main

from .conftest import open_warehouse, unique_table


def ingest(*args: str) -> tuple[int, dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["ingest", *args, "--json"])
    return code, json.loads(out.getvalue())


def rows(url: str, sql: str) -> list[tuple]:
    with open_warehouse(url) as warehouse:
        return warehouse.execute(sql)


NINE = "id,code,ref,name,qty,price,description,url,comments\n"


@pytest.mark.parametrize("mode", ["etl", "elt"])
def test_a_record_with_an_extra_empty_field_is_a_parse_reject(
    workdir: Path, target_url: str, mode: str
):
    good = "".join(f"{i},A{i},CC-{i},n{i},{i},1.5,desc {i},http://x/{i},\n" for i in range(1, 9))
    shifted = "9,,CC-9259,boots,3,2.5,a description,http://x/9,,\n"
    source = workdir / "orders.csv"
    source.write_text(NINE + good + shifted, encoding="utf-8")
    table = unique_table()
    code, summary = ingest(str(source), "--table", table, "--target", target_url, "--mode", mode)
    result = summary["files"][0]
    assert code == 0
    assert (result["rows_read"], result["rows_loaded"], result["rows_rejected"]) == (9, 8, 1)
    assert result["dialect"]["trailing_delimiter"] is False
    assert rows(target_url, f"SELECT count(*) FROM {table} WHERE url LIKE '%description%'") == [
        (0,)
    ]
    rejects = Path(result["rejects_path"]).read_text(encoding="utf-8")
    assert "expected 9 fields, found 10" in rejects and "9,,CC-9259" in rejects


def test_a_trailing_delimiter_on_every_record_is_the_dialect(workdir: Path, target_url: str):
    source = workdir / "trailing.csv"
    source.write_text("a,b,c\n1,2,3,\n4,5,6,\n", encoding="utf-8")
    table = unique_table()
    code, summary = ingest(str(source), "--table", table, "--target", target_url)
    result = summary["files"][0]
    assert code == 0 and result["rows_loaded"] == 2 and result["rows_rejected"] == 0
    assert result["dialect"]["trailing_delimiter"] is True
    assert rows(target_url, f"SELECT a, b, c FROM {table} ORDER BY a") == [(1, 2, 3), (4, 5, 6)]


def test_a_short_record_and_a_long_record_are_rejects(workdir: Path, target_url: str):
    source = workdir / "ragged.csv"
    source.write_text("a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n", encoding="utf-8")
    table = unique_table()
    code, summary = ingest(str(source), "--table", table, "--target", target_url)
    result = summary["files"][0]
    assert (result["rows_loaded"], result["rows_rejected"]) == (2, 2)
    assert rows(target_url, f"SELECT a FROM {table} ORDER BY a") == [(1,), (10,)]
