"""Every generated pollution of a clean table (tests/read/pollution.py) is read as its table:
the dialect right, every record there, every line outside the table counted."""

from pathlib import Path

import polars as pl
import pytest
from csvdock.core.settings import TableSettings
from csvdock.read.extract import RECORDS_FILE, REJECTS_FILE, extract_file

from tests.conftest import open_warehouse
from tests.read.pollution import Polluted, clean_rows, expected_values, pollutions

CASES = {case.name: case for case in pollutions()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_polluted_file_reads_as_its_table(tmp_path: Path, name: str):
    case: Polluted = CASES[name]
    source = tmp_path / f"{name}.csv"
    source.write_bytes(case.data)
    result = extract_file(source, tmp_path / "out", TableSettings())
    records = pl.read_parquet(tmp_path / "out" / RECORDS_FILE)
    rejects = pl.read_parquet(tmp_path / "out" / REJECTS_FILE)
    dialect = result.dialect
    assert (dialect["delimiter"], dialect["quote"]) == (case.delimiter, case.quote)
    assert dialect["space_after_delimiter"] == case.space_after
    assert result.rows_read == case.rows == records.height + rejects.height
    if case.rejected >= 0:
        assert rejects.height == case.rejected, rejects.to_dicts()
    else:
        assert rejects.height <= 1  # a stray quote damages at most its own record
    assert result.lines_outside_table == case.lines_outside, result.outside
    assert result.columns == case.columns
    expected = expected_values(case)
    got = records.select(result.columns).rows()
    if case.rejected == 0:
        assert [list(row) for row in got] == expected  # the values exactly, in order


def test_the_summary_lists_the_lines_outside_the_table(tmp_path: Path):
    source = tmp_path / "report.csv"
    source.write_bytes(CASES["footer-totals-notes"].data.replace(b"id,", b"Sales\nid,", 1))
    result = extract_file(source, tmp_path / "out", TableSettings())
    reasons = [(span["first_line"], span["reason"]) for span in result.outside]
    assert reasons == [(1, "preamble"), (34, "footer")]
    assert result.lines_outside_table == 3


def test_european_values_are_read_as_dates_and_decimals(workdir: Path):
    """Day-first dates and decimal commas (with thousands dots) of a ';' file: typed columns
    with their source formats, the same values as the clean table."""
    import csvdock

    source = workdir / "european.csv"
    source.write_bytes(CASES["values-european"].data)
    summary = csvdock.ingest(source, table="european", target="duckdb:///w.duckdb")
    (result,) = summary.files
    assert (result.status, result.rows_rejected) == ("loaded", 0)
    schema = result.schema
    assert schema is not None
    found = {c.name: (c.type, c.format) for c in schema.columns}
    assert found["price"] == ("decimal(38,2)", "decimal-comma")
    assert found["day"] == ("date", "day-first")
    with open_warehouse(f"duckdb:///{workdir / 'w.duckdb'}") as warehouse:
        got = warehouse.execute(
            'SELECT id, CAST(price AS VARCHAR), CAST("day" AS VARCHAR) FROM "european" ORDER BY id'
        )
    expected = [
        (int(r[0]), f"{float(r[2]):.2f}", r[3]) for r in clean_rows(CASES["values-european"].rows)
    ]
    assert got == expected
