"""A file holding several tables: by default the first is loaded and the rest reported as lines
outside the table; with --split-tables each later table is loaded into TABLE_2, TABLE_3..."""

import json
from pathlib import Path

from tests.conftest import open_warehouse
from tests.edges.test_cli import run_cli

TWO_TABLES = (
    "id,amount\n1,2.5\n2,3.5\n3,4.5\n4,5.5\n\ncode,label,rank\nx,first,1\ny,second,2\nz,third,3\n"
)
SMALL_FIRST = "id,amount\n1,2.5\n2,3.5\n\ncode,label,rank\nx,first,1\ny,second,2\nz,third,3\n"


def test_a_second_table_is_reported_not_loaded_by_default(workdir: Path):
    (workdir / "report.csv").write_text(TWO_TABLES)
    code, out, err = run_cli("ingest", "report.csv")
    assert code == 0, err
    assert "4 line(s) outside the table: second table at line 7" in out
    with open_warehouse(f"duckdb:///{workdir / 'warehouse.duckdb'}") as warehouse:
        assert warehouse.execute('SELECT count(*), sum(id) FROM "report"') == [(4, 10)]
        tables = warehouse.execute("SELECT table_name FROM information_schema.tables")
    assert ("report_2",) not in tables


def test_the_larger_table_is_loaded_and_a_smaller_one_above_it_reported(workdir: Path):
    (workdir / "report.csv").write_text(SMALL_FIRST)
    code, out, err = run_cli("ingest", "report.csv")
    assert code == 0, err
    assert "report (schema v1): 3 read, 3 loaded" in out
    assert "3 line(s) outside the table: another table at line 1" in out


def test_split_tables_loads_each_table_into_its_own(workdir: Path):
    (workdir / "report.csv").write_text(TWO_TABLES)
    code, out, err = run_cli("ingest", "report.csv", "--table", "sales", "--split-tables", "--json")
    assert code == 0, err
    first, second = json.loads(out)["files"]
    assert (first["table"], first["rows_loaded"], first["lines_outside_table"]) == ("sales", 4, 4)
    assert (second["table"], second["rows_loaded"], second["lines_outside_table"]) == (
        "sales_2",
        3,
        0,
    )
    with open_warehouse(f"duckdb:///{workdir / 'warehouse.duckdb'}") as warehouse:
        rows = warehouse.execute('SELECT code, label, "rank" FROM "sales_2" ORDER BY "rank"')
    assert rows == [("x", "first", 1), ("y", "second", 2), ("z", "third", 3)]


def test_split_tables_also_loads_a_smaller_table_above(workdir: Path):
    (workdir / "report.csv").write_text(SMALL_FIRST)
    code, out, err = run_cli("ingest", "report.csv", "--split-tables", "--json")
    assert code == 0, err
    loaded = {(f["table"], f["rows_loaded"]) for f in json.loads(out)["files"]}
    assert loaded == {("report", 3), ("report_2", 2)}
