"""The target contract: every registered target (``csvdock.targets.TARGETS``) passes the same
suite. A new target adds its test URL to ``TEST_URLS`` and is then held to all of it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from csvdock.schema import types as t
from csvdock.schema.table import Column, TableSchema
from csvdock.targets import TARGETS, Warehouse, WarehouseError, connect, parse_target
from csvdock.targets.base import METADATA_SCHEMA
from csvdock.targets.load import NarrowingRefused, evolve_table

from tests.conftest import unique_table

TEST_URLS: dict[str, Callable[[pytest.FixtureRequest, Path], str]] = {
    "duckdb": lambda request, tmp: f"duckdb:///{tmp / 'contract.duckdb'}",
    "postgresql": lambda request, tmp: str(request.getfixturevalue("pg_dsn")),
    # PostgreSQL 16+ checks conversions with pg_input_is_valid: a dialect of its own
    "postgresql-16": lambda request, tmp: str(request.getfixturevalue("pg16_dsn")),
}
EVERY_TYPE = [
    t.BOOLEAN,
    t.INTEGER,
    t.BIGINT,
    t.decimal_type(2),
    t.DOUBLE,
    t.DATE,
    t.TIMESTAMP,
    t.TIME,
    t.TEXT,
]


def test_every_registered_target_is_under_contract():
    assert set(TARGETS) == {name.partition("-")[0] for name in TEST_URLS}


@pytest.fixture(params=sorted(TEST_URLS))
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    url = TEST_URLS[request.param](request, tmp_path)
    target = parse_target(url)
    kind, _, version = request.param.partition("-")
    assert target.kind == kind
    with connect(target) as opened:
        # the 16+ dialect where the server has pg_input_is_valid (the throwaway server is 18)
        newer = kind == "postgresql" and opened.server_version() >= 160000  # type: ignore[attr-defined]
        assert opened.dialect.capabilities.input_validation == newer
        assert newer or version != "16"
        yield opened


def _schema(table: str, columns: dict[str, str]) -> TableSchema:
    return TableSchema(table, [Column(n, n, kind) for n, kind in columns.items()], version=1)


def test_the_ledger_tables_are_created_once(warehouse: Warehouse):
    warehouse.ensure_ledger()
    warehouse.ensure_ledger()  # idempotent
    for table in ("ledger", "rejects", "schema_versions"):
        assert warehouse.table_types(METADATA_SCHEMA, table), table


def test_every_logical_type_round_trips_through_the_table(warehouse: Warehouse):
    table = unique_table("types")
    columns = {f'c {i} "{kind}"': kind for i, kind in enumerate(EVERY_TYPE)}  # quoted names
    warehouse.begin()
    evolve_table(warehouse, warehouse.default_schema, table, _schema(table, columns))
    warehouse.commit()
    assert warehouse.table_types(warehouse.default_schema, table) == columns


def test_rows_go_in_and_come_back_equal(warehouse: Warehouse):
    table = unique_table("rows")
    columns = {"id": t.BIGINT, "price": t.decimal_type(2), "day": t.DATE, "note": t.TEXT}
    rows = pa.table(
        {
            "id": pa.array([1, 2**40], pa.int64()),
            "price": pa.array([Decimal("8.50"), Decimal("-0.01")], pa.decimal128(38, 2)),
            "day": pa.array([dt.date(2024, 2, 29), dt.date(1999, 12, 31)]),
            "note": pa.array(["it's", ""]),
        }
    )
    warehouse.begin()
    evolve_table(warehouse, warehouse.default_schema, table, _schema(table, columns))
    assert warehouse.ingest_arrow(warehouse.default_schema, table, rows) == 2
    warehouse.commit()
    got = warehouse.execute(f'SELECT id, CAST(price AS TEXT), day, note FROM "{table}" ORDER BY id')
    assert got == [
        (1, "8.50", dt.date(2024, 2, 29), "it's"),
        (2**40, "-0.01", dt.date(1999, 12, 31), ""),
    ]


def test_a_rolled_back_transaction_leaves_nothing(warehouse: Warehouse):
    assert warehouse.capabilities.transactional_ddl
    table = unique_table("gone")
    warehouse.begin()
    evolve_table(warehouse, warehouse.default_schema, table, _schema(table, {"a": t.TEXT}))
    warehouse.rollback()
    assert warehouse.table_types(warehouse.default_schema, table) is None


def test_columns_widen_and_never_narrow(warehouse: Warehouse):
    table, name = unique_table("widen"), warehouse.default_schema
    warehouse.begin()
    evolve_table(warehouse, name, table, _schema(table, {"n": t.INTEGER, "d": t.DATE}))
    warehouse.execute(f"INSERT INTO \"{table}\" VALUES (7, DATE '2024-01-02')")
    # (decimal never widens to double: a double cannot hold every decimal exactly)
    for numeric in (t.BIGINT, t.decimal_type(3), t.TEXT):
        evolve_table(warehouse, name, table, _schema(table, {"n": numeric, "d": t.TIMESTAMP}))
        assert warehouse.table_types(name, table) == {"n": numeric, "d": t.TIMESTAMP}
    warehouse.commit()
    assert float(warehouse.execute(f'SELECT n FROM "{table}"')[0][0]) == 7  # the value kept
    with pytest.raises(NarrowingRefused):
        evolve_table(warehouse, name, table, _schema(table, {"n": t.INTEGER, "d": t.TIMESTAMP}))


def test_a_bad_statement_is_a_permanent_warehouse_error(warehouse: Warehouse):
    warehouse.begin()
    with pytest.raises(WarehouseError) as caught:
        warehouse.execute('SELECT * FROM "no such table anywhere"')
    warehouse.rollback()
    assert not caught.value.transient


SAMPLES = {
    t.BOOLEAN: ["true", "Y", "no", "maybe", "1"],
    t.INTEGER: ["1", "-2147483648", "2147483648", "+7", "1.0", "1e3", "٣"],
    t.BIGINT: ["9223372036854775807", "9223372036854775808", "-0", "12a"],
    t.decimal_type(2): ["8.50", "8.505", "-0.01", ".5", "1e2", "1" * 37],
    t.DOUBLE: ["1.5", "1e308", "1e-320", ".5", "5.", "inf", "NaN", "1e3"],
    t.DATE: [
        "2024-02-29",
        "2023-02-29",
        "2024-13-01",
        "0999-01-01",
        "2024-1-01",
        "2024-01-1a",
        "2024/01/01",
        "20240101--",
        "2024-01-001",
    ],
    t.TIMESTAMP: [
        "2024-02-29 23:59:59.123456",
        "2024-02-29T24:00",
        "2024-04-31 10:00",
        "2024",
        "2024-02-29",
        "2024-02-29T23:59",
        "2024-02-29 23:60",
        "2024-02-29 23:59:60",
        "2024-02-29 23:59:59.",
        "2024-02-29 23:59:59.1234567",
        "2024-02-29 23:59:5.1",
        "2024-02-29x23:59",
        "2024-02-29 2:59:59",
        "2024-02-29 23:59:59Z",
        "0999-01-01 10:00",
        "2024-02-29 23:59:59.1",
        "2024-02-29 23:59:5..",
    ],
    t.TIME: [
        "7:05",
        "07:05:30",
        "23:59:59.5",
        "24:00",
        "7:5",
        "10:60",
        "12:30 PM",
        "1:02:03.1234567",
    ],
}


@pytest.mark.parametrize("logical", sorted(SAMPLES))
def test_the_sql_check_agrees_with_the_polars_cast(warehouse: Warehouse, logical: str):
    """The same rules in both modes: a text converts in SQL on this target exactly where the
    Polars cast (ETL) converts it."""
    values = SAMPLES[logical]
    polars_fits = (
        pl.DataFrame({"v": values})
        .select(t.typed_expr("v", logical).is_not_null())
        .to_series()
        .to_list()
    )
    dialect = warehouse.dialect
    # From a table, as in ELT (PostgreSQL folds a cast of a literal even in a CASE not taken).
    rows = ", ".join(f"({i}, {dialect.literal(value)})" for i, value in enumerate(values))
    check = t.sql_valid(dialect, dialect.trimmed("v"), logical)
    got = warehouse.execute(f"SELECT {check} FROM (VALUES {rows}) AS s(i, v) ORDER BY i")
    sql_fits = [bool(fits) for (fits,) in got]
    assert sql_fits == polars_fits, list(zip(values, sql_fits, polars_fits, strict=True))


FORMATTED = {
    ("day-first", t.DATE): [
        "28/01/2018",
        "1/2/2018",
        "5.2.2018",
        "31-12-1999",
        "2018-01-28",
        "30/02/2018",
        "28/13/2018",
        "1/2/18",
    ],
    ("month-first", t.TIMESTAMP): [
        "01/28/2018 10:30",
        "2/1/2018",
        "12/31/1999 23:59:59",
        "13/01/2018",
        "2018-01-28 10:00",
    ],
    ("thousands-comma", t.decimal_type(2)): [
        "1,234.56",
        "1,234,567",
        "12",
        "1,23",
        "1,2345",
        "-9,999.99",
        "1.5",
    ],
    ("decimal-comma", t.decimal_type(2)): [
        "1.234,56",
        "12,5",
        "-7",
        "1.234",
        "1,234.56",
        "12,345",
        "1.23,4",
    ],
    ("decimal-comma", t.DOUBLE): ["0,5", "1.000.000,25", "3", "1,5e3"],
}


@pytest.mark.parametrize(("source_format", "logical"), sorted(FORMATTED))
def test_a_source_format_reads_alike_in_sql_and_polars(
    warehouse: Warehouse, source_format: str, logical: str
):
    """A column's source format (day-first dates, decimal commas...) rewrites a value the same
    way in SQL on this target (ELT) as in Polars (ETL): same values kept, same values refused."""
    from csvdock.schema.formats import rewritten_sql

    values = FORMATTED[(source_format, logical)]
    polars_values = (
        pl.DataFrame({"v": values})
        .select(t.typed_expr("v", logical, source_format))
        .to_series()
        .to_list()
    )
    dialect = warehouse.dialect
    rows = ", ".join(f"({i}, {dialect.literal(value)})" for i, value in enumerate(values))
    standard = rewritten_sql(dialect, dialect.trimmed("v"), source_format)
    check = t.sql_valid(dialect, "w", logical)
    cast = t.sql_converted(dialect, "w", logical)
    got = warehouse.execute(
        f"SELECT CASE WHEN {check} THEN CAST({cast} AS {dialect.text_type}) END FROM "
        f"(SELECT i, {standard} AS w FROM (VALUES {rows}) AS s(i, v)) AS r ORDER BY i"
    )
    sql_values = [value for (value,) in got]
    pairs = list(zip(values, sql_values, polars_values, strict=True))
    assert [v is None for v in sql_values] == [v is None for v in polars_values], pairs
    assert all(_same_value(text, value) for _, text, value in pairs), pairs
    assert any(v is not None for v in polars_values) and any(v is None for v in polars_values)


def _same_value(text: str | None, value: object) -> bool:
    """Whether the SQL value (as text) and the Polars value are the same value."""
    if text is None or value is None:
        return text is None and value is None
    if isinstance(value, Decimal | float):
        return Decimal(text) == Decimal(str(value))
    if isinstance(value, dt.datetime):
        return dt.datetime.fromisoformat(text) == value
    if isinstance(value, dt.date):
        return dt.date.fromisoformat(text[:10]) == value
    return text == str(value)
