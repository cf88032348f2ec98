"""The ELT cast on an in-memory DuckDB: the same table and rejects as the Polars cast."""

from __future__ import annotations

import duckdb
import polars as pl
from csvdock.read.records import END, LINE, START
from csvdock.rejects.format import checked_rejects_sql, rejects_from_rows, rejects_of_checked
from csvdock.schema import types as t
from csvdock.schema.table import Column, TableSchema
from csvdock.targets import dialect_of
from csvdock.transform.sql_cast import checked_rows_sql
from csvdock.transform.typed import typed_frame


def test_sql_and_polars_reject_the_same_records_with_the_same_reasons():
    records = pl.DataFrame(
        {
            "id": ["1", "2", "x", "4", " 5 "],
            "price": ["8.50", "9.999", "1", "NA", "2"],
            "day": ["2024-02-29", "2024-02-30", "2024-01-01", "", "2024-12-31"],
        }
    ).with_columns(
        pl.int_range(2, 7, dtype=pl.Int64).alias(LINE),
        pl.int_range(0, 5, dtype=pl.Int64).alias(START),
        pl.int_range(1, 6, dtype=pl.Int64).alias(END),
    )
    schema = TableSchema(
        "s",
        [
            Column("id", "id", t.INTEGER, nullable=False),
            Column("price", "price", t.decimal_type(2)),
            Column("day", "day", t.DATE),
        ],
    )
    nulls = ("", "NA")
    by_polars = rejects_of_checked(typed_frame(records.lazy(), schema, nulls)).collect()
    with duckdb.connect() as con:
        con.register("staged", records.to_arrow())
        checked = checked_rows_sql(
            dialect_of("duckdb"), "main.staged", ["id", "price", "day"], schema, nulls, None
        )
        by_sql = rejects_from_rows(con.execute(checked_rejects_sql(checked)).fetchall())
    assert by_sql.to_dicts() == by_polars.to_dicts()
    assert by_polars["line"].to_list() == [3, 4]
