"""The integrity guarantees: no column narrows, no record loads shifted, failures are visible,
counts agree, text is decoded right. Each test failed on the code before the integrity issue."""

from __future__ import annotations

import contextlib
import io
import json
from decimal import Decimal
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
    """The rows of ``sql``; decimals as Decimal on both targets (ADBC reads numeric as text)."""
    with open_warehouse(url) as warehouse:
        found = warehouse.execute(sql)
    return [
        tuple(Decimal(v) if isinstance(v, str) and v[:1].isdigit() and "." in v else v for v in r)
        for r in found
    ]


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


DOWN = "postgresql://postgres@127.0.0.1:1/nowhere"  # nothing listens on port 1


@pytest.mark.parametrize("mode", ["etl", "elt"])
def test_an_old_checkpoint_never_narrows_a_widened_column(
    workdir: Path, target_url: str, mode: str
):
    (workdir / "f1.csv").write_text("id,age\n1,30\n2,7\n", encoding="utf-8")
    (workdir / "f2.csv").write_text("id,age\n3,30.5\n4,7.25\n", encoding="utf-8")
    table = unique_table()
    common = ["--table", table, "--mode", mode]
    code, first = ingest(str(workdir / "f1.csv"), *common, "--target", DOWN)
    assert code == 1 and first["files"][0]["status"] == "failed"
    assert not (workdir / "schemas" / table / "v1.json").exists()  # no orphan version
    code, second = ingest(str(workdir / "f2.csv"), *common, "--target", target_url)
    assert code == 0 and second["files"][0]["schema_version"] == 1
    code, third = ingest(str(workdir / "f1.csv"), *common, "--target", target_url)
    result = third["files"][0]
    assert code == 0 and result["status"] == "loaded"
    assert rows(target_url, f"SELECT id, age FROM {table} ORDER BY id") == [
        (1, Decimal("30.00")),
        (2, Decimal("7.00")),
        (3, Decimal("30.50")),
        (4, Decimal("7.25")),
    ]
    with open_warehouse(target_url) as warehouse:
        types = warehouse.table_types(warehouse.default_schema, table)
    assert types == {"id": "integer", "age": "decimal(38,2)"}
    assert result["schema_version"] == 1


def test_a_file_typed_against_an_older_version_is_resolved_again(workdir: Path, target_url: str):
    """f1 is cast as v1 (integer); f2 widens the table to v2 (decimal) before f1 loads."""
    (workdir / "f0.csv").write_text("id,age\n0,1\n", encoding="utf-8")
    (workdir / "f1.csv").write_text("id,age\n1,30\n2,7\n", encoding="utf-8")
    (workdir / "f2.csv").write_text("id,age\n3,30.5\n", encoding="utf-8")
    table = unique_table()
    assert ingest(str(workdir / "f0.csv"), "--table", table, "--target", target_url)[0] == 0
    code, first = ingest(str(workdir / "f1.csv"), "--table", table, "--target", DOWN)
    assert code == 1
    code, second = ingest(str(workdir / "f2.csv"), "--table", table, "--target", target_url)
    assert second["files"][0]["schema_version"] == 2
    code, third = ingest(str(workdir / "f1.csv"), "--table", table, "--target", target_url)
    result = third["files"][0]
    assert (code, result["status"], result["schema_version"]) == (0, "loaded", 2)
    versions = sorted(p.name for p in (workdir / "schemas" / table).iterdir())
    assert versions == ["v1.json", "v2.json"]
    assert rows(target_url, f"SELECT id, age FROM {table} ORDER BY id") == [
        (0, Decimal("1.0")),
        (1, Decimal("30.0")),
        (2, Decimal("7.0")),
        (3, Decimal("30.5")),
    ]
