"""Source formats from whole-file evidence: day-first and month-first dates, thousands
separators and decimal commas; text when the values read either way throughout."""

import re
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from csvdock.schema.detect import detect_schema
from csvdock.schema.evolution import resolve
from csvdock.schema.formats import FORMATS, only_this_count, only_this_expr, only_this_sql
from csvdock.schema.table import Column, TableSchema
from csvdock.targets.duckdb import DuckDBDialect
from csvdock.transform.typed import typed_frame
from hypothesis import given, settings
from hypothesis import strategies as st


def detect(tmp_path: Path, values: dict[str, list[str]], share: float = 0.001) -> TableSchema:
    path = tmp_path / "records.parquet"
    pl.DataFrame(values, schema={k: pl.String for k in values}).write_parquet(path)
    names = list(values)
    return detect_schema(path, "t", names, names, ("", "NA"), share)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["28/01/2018", "01/02/2018", "5.2.2018"], ("date", "day-first")),
        (["01/28/2018", "02/01/2018", "12/31/1999"], ("date", "month-first")),
        (["28/01/2018 10:30", "1/2/2018 23:59:59"], ("timestamp", "day-first")),
        (["01/02/2018", "03/04/2018"], ("text", None)),  # either way throughout
        (["28/01/2018", "01/28/2018"], ("text", None)),  # both ways: not one column's format
        (["1,234.56", "50", "2,000,000"], ("decimal(38,2)", "thousands-comma")),
        (["1,234,567", "12"], ("integer", "thousands-comma")),
        (["1.234,56", "12,5", "-7"], ("decimal(38,2)", "decimal-comma")),
        (["1,234", "5,000"], ("text", None)),  # thousands or decimals: cannot tell
        (["12,5", "1,234,567"], ("text", None)),  # a decimal comma and thousands groups
        (["2018-01-28", "2018-02-01"], ("date", None)),  # the standard form needs no format
    ],
)
def test_a_column_written_in_a_source_format_gets_its_type(tmp_path: Path, values, expected):
    (column,) = detect(tmp_path, {"v": values}).columns
    assert (column.type, column.format) == expected


def test_a_value_not_in_the_format_is_a_reject_naming_the_format(tmp_path: Path):
    schema = detect(tmp_path, {"v": ["28/01/2018", "31/12/2019", *["01/01/2020"] * 2000, "x"]})
    assert schema.columns[0].format == "day-first"
    frame = pl.LazyFrame(
        {"__line": [1, 2], "__start": [0, 1], "__end": [1, 2], "v": ["13/02/2018", "02/13/2018"]}
    )
    rows = typed_frame(frame, schema, ("",), None).collect().to_dicts()
    assert str(rows[0]["v"]) == "2018-02-13" and rows[0]["__reject_reason"] is None
    assert rows[1]["v"] is None
    assert rows[1]["__reject_reason"] == "column 'v': '02/13/2018' is not date (day-first)"


def test_a_later_file_adds_its_format_and_two_formats_make_text():
    iso = TableSchema("t", [Column("d", "d", "date")], version=1)
    day_first = TableSchema("t", [Column("d", "d", "date", format="day-first")])
    month_first = TableSchema("t", [Column("d", "d", "date", format="month-first")])
    added = resolve(iso, day_first, "evolve")
    assert added.schema.columns[0].format == "day-first"
    assert added.changes == [{"change": "format", "column": "d", "format": "day-first"}]
    clash = resolve(added.schema, month_first, "evolve")
    assert (clash.schema.columns[0].type, clash.schema.columns[0].format) == ("text", None)


def test_a_column_keeps_its_known_format_when_a_file_reads_either_way(tmp_path: Path):
    path = tmp_path / "records.parquet"
    pl.DataFrame({"d": ["01/02/2018", "03/04/2018"]}).write_parquet(path)
    schema = detect_schema(path, "t", ["d"], ["d"], ("",), 0.001, {"d": "day-first"})
    assert (schema.columns[0].type, schema.columns[0].format) == ("date", "day-first")


def test_times_of_day_are_a_type(tmp_path: Path):
    values = {"at": ["7:05", "23:59:59.5", "10:30"], "not": ["7:05", "24:00", "8:00"]}
    schema = detect(tmp_path, values)
    assert [(c.name, c.type) for c in schema.columns] == [("at", "time"), ("not", "text")]


@pytest.mark.parametrize("name", sorted(FORMATS))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_every_value_only_a_format_reads_holds_one_of_its_marks(name: str, data) -> None:
    found = FORMATS[name]
    value = data.draw(st.from_regex(found.only_this, fullmatch=True))
    assert any(mark in value for mark in found.marks), value


def test_the_counts_of_values_only_a_format_reads_agree_in_polars_sql_and_arrow() -> None:
    values = ["1,234,567", "12,5", "1.234,56", "12345", "", "28/01/2018", "x,y", "1.5", "007"]
    frame = pl.DataFrame({"v": values})
    con = duckdb.connect()
    con.register("frame", frame.to_arrow())
    for name, found in FORMATS.items():
        plain = sum(1 for v in values if re.search(found.only_this, v))
        counted = frame.select(only_this_expr(pl.col("v"), name)).item()
        in_sql = con.execute(
            f"SELECT count(CASE WHEN {only_this_sql(DuckDBDialect(), 'v', name)} THEN 1 END) "
            "FROM frame"
        ).fetchone()
        in_arrow = only_this_count(pa.array(values), name)
        assert (counted, in_sql[0] if in_sql else None, in_arrow) == (plain,) * 3, name
    assert any(re.search(FORMATS["decimal-comma"].only_this, v) for v in values)
