"""A file with no records is not a broken file and never changes its table (issue 24, items 9
and 13): a 0-byte or header-only file is ``loaded`` with 0 rows, no schema version and no ALTER,
unless the table does not exist yet (then ``skipped`` with the reason)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import open_warehouse, unique_table
from tests.edges.test_cli import run_cli


def ingest_json(workdir: Path, name: str, text: str, *args: str) -> tuple[int, dict]:
    (workdir / name).write_text(text, encoding="utf-8")
    code, out, err = run_cli("ingest", name, "--json", *args)
    return code, json.loads(out)["files"][0] if out.strip() else {"err": err}


@pytest.mark.parametrize("mode", ["etl", "elt"])
@pytest.mark.parametrize("empty", ["", "a,b\n", "\n\n"])
def test_a_file_without_records_loads_nothing_and_leaves_the_table_alone(
    workdir: Path, mode: str, empty: str
):
    target = f"duckdb:///{workdir / 'w.duckdb'}"
    table = unique_table("daily")
    args = ("--target", target, "--table", table, "--mode", mode)
    code, first = ingest_json(workdir, "day1.csv", "id,amount\n1,2.50\n2,3.75\n", *args)
    assert code == 0 and first["status"] == "loaded" and first["schema_version"] == 1
    code, result = ingest_json(workdir, "day2.csv", empty, *args)
    assert code == 0, result
    assert result["status"] == "loaded" and result["rows_read"] == 0, result
    assert result["rows_loaded"] == 0 and "no records" in result["reason"]
    assert result["schema_version"] == 1
    assert sorted(p.name for p in (workdir / "schemas" / table).glob("v*.json")) == ["v1.json"]
    with open_warehouse(target) as warehouse:
        columns = warehouse.table_types(None, table) or warehouse.table_types("main", table)
        assert list(columns) == ["id", "amount"]
        ledger = warehouse.execute(
            "SELECT rows_read, rows_loaded FROM csvdock.ledger WHERE table_name LIKE $1",
            [f"%{table}"],
        )
        assert sorted(tuple(r) for r in ledger) == [(0, 0), (2, 2)]
    code, again = ingest_json(workdir, "day2.csv", empty, *args)
    assert code == 0 and again["status"] == "skipped"  # the ledger holds it


def test_an_empty_file_for_a_table_that_does_not_exist_is_skipped_with_the_reason(workdir):
    target = f"duckdb:///{workdir / 'w.duckdb'}"
    table = unique_table("nothing")
    code, result = ingest_json(workdir, "e.csv", "", "--target", target, "--table", table)
    assert code == 0
    assert result["status"] == "skipped"
    assert "does not exist yet" in result["reason"]
    assert not (workdir / "schemas" / table).exists()
