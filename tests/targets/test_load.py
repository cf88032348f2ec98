"""Loading into both targets: types survive, reruns load nothing, failures leave nothing."""

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from csvdock.core.settings import load_settings
from csvdock.pipeline import etl, stages
from csvdock.read.extract import file_sha256
from csvdock.targets.load import LoadError

from tests.conftest import ingest, open_warehouse, unique_table

TYPED_CSV = (
    "id,big,ratio,price,flag,day,moment,label\n"
    "1,9007199254740993,1.5e3,12.50,true,2024-02-29,2024-02-29 23:59:58.123456,Zürich ✓\n"
    '2,-5,-2.25e-2,0.05,false,1999-12-31,2000-01-01T00:00,"quote "" and, comma"\n'
    "3,,,,,,,\n"
)


def rows(url: str, sql: str) -> list[tuple]:
    with open_warehouse(url) as warehouse:
        return warehouse.execute(sql)


def test_types_survive_the_round_trip(workdir: Path, target_url: str):
    source = workdir / "typed.csv"
    source.write_text(TYPED_CSV, encoding="utf-8")
    table = unique_table("typed")
    code, summary = ingest(str(source), "--target", target_url, "--table", table)
    assert code == 0, summary
    assert summary["files"][0]["rows_loaded"] == 3
    got = rows(
        target_url,
        f'SELECT id, big, ratio, CAST(price AS VARCHAR), flag, day, moment, label FROM "{table}" '
        "ORDER BY id",
    )
    assert got == [
        (
            1,
            9007199254740993,
            1500.0,
            "12.50",
            True,
            dt.date(2024, 2, 29),
            dt.datetime(2024, 2, 29, 23, 59, 58, 123456),
            "Zürich ✓",
        ),
        (
            2,
            -5,
            -0.0225,
            "0.05",
            False,
            dt.date(1999, 12, 31),
            dt.datetime(2000, 1, 1),
            'quote " and, comma',
        ),
        (3, None, None, None, None, None, None, None),
    ]
    decimal_value = rows(target_url, f'SELECT price FROM "{table}" WHERE id = 1')[0][0]
    assert Decimal(str(decimal_value)) == Decimal("12.50")


def test_rerunning_the_same_file_loads_nothing_more(workdir: Path, target_url: str):
    source = workdir / "again.csv"
    source.write_text("a,b\n1,x\n2,y\n", encoding="utf-8")
    table = unique_table("again")
    first_code, first = ingest(str(source), "--target", target_url, "--table", table)
    second_code, second = ingest(str(source), "--target", target_url, "--table", table)
    assert (first_code, second_code) == (0, 0)
    assert first["files"][0]["status"] == "loaded"
    assert second["files"][0]["status"] == "skipped"
    assert second["files"][0]["rows_loaded"] == 0
    assert rows(target_url, f'SELECT count(*) FROM "{table}"') == [(2,)]
    with open_warehouse(target_url) as warehouse:
        ledger = warehouse.execute(
            "SELECT rows_read, rows_loaded, rows_rejected FROM csvdock.ledger "
            "WHERE table_name = $1",
            [table],
        )
    assert ledger == [(2, 2, 0)]


def test_schema_qualified_tables_are_created(workdir: Path, target_url: str):
    source = workdir / "q.csv"
    source.write_text("a\n1\n", encoding="utf-8")
    schema = unique_table("sch")
    code, summary = ingest(str(source), "--target", target_url, "--table", f"{schema}.items")
    assert code == 0
    assert summary["files"][0]["table"] == f"{schema}.items"
    assert rows(target_url, f'SELECT a FROM "{schema}"."items"') == [(1,)]


def test_a_failure_before_commit_leaves_no_rows_and_no_ledger_row(workdir: Path, target_url: str):
    source = workdir / "boom.csv"
    source.write_text("a,b\n1,x\n2,y\n", encoding="utf-8")
    table = unique_table("boom")
    settings = load_settings().with_overrides(target=target_url)
    sha = file_sha256(source)
    stages.extract_stage(source, sha, table, settings, workdir / "e")
    etl.transform_stage(workdir / "e", table, settings, workdir / "t")

    def explode() -> None:
        raise RuntimeError("injected failure after the rows were written")

    with pytest.raises(RuntimeError, match="injected failure"):
        etl.load_stage(source, sha, table, "run-1", settings, workdir / "e", workdir / "t", explode)
    with open_warehouse(target_url) as warehouse:
        assert warehouse.table_types(warehouse.default_schema, table) is None
        assert warehouse.execute(
            "SELECT count(*) FROM csvdock.ledger WHERE table_name = $1", [table]
        ) == [(0,)]
    result = etl.load_stage(source, sha, table, "run-2", settings, workdir / "e", workdir / "t")
    assert (result.status, result.rows_loaded) == ("loaded", 2)


def test_load_refuses_when_counts_do_not_add_up(workdir: Path):
    source = workdir / "c.csv"
    source.write_text("a\n1\n2\n", encoding="utf-8")
    settings = load_settings()
    sha = file_sha256(source)
    stages.extract_stage(source, sha, "c", settings, workdir / "e")
    etl.transform_stage(workdir / "e", "c", settings, workdir / "t")
    meta = workdir / "t" / "transform.json"
    meta.write_text(json.dumps({"rows_in": 2, "rows_out": 1, "rows_rejected": 0}))
    with pytest.raises(LoadError, match="2 records read but 1 typed and 0 rejected"):
        etl.load_stage(source, sha, "c", "r", settings, workdir / "e", workdir / "t")


def test_insert_unless_present_inserts_once_and_a_race_is_transient(workdir: Path, target_url: str):
    """csvdock's own rows (the ledger claim, a schema version) are inserted unless their key
    is there. DuckDB looks the key up, then inserts plainly (its ON CONFLICT cost 2 ms a
    statement): a row another connection wrote meanwhile makes the insert a transient error,
    so the load is tried again and then finds it; PostgreSQL keeps ON CONFLICT."""
    from csvdock.core.retry import is_transient
    from csvdock.targets.base import WarehouseError

    table = f'"csvdock_test_{unique_table()}"'
    row = {"k": "a", "v": 1}
    with open_warehouse(target_url) as first:
        first.execute(f"CREATE TABLE {table} (k VARCHAR PRIMARY KEY, v INTEGER)")
        try:
            assert first.insert_unless_present(table, row, ("k",)) is True
            assert first.insert_unless_present(table, {"k": "a", "v": 2}, ("k",)) is False
            assert first.execute(f"SELECT k, v FROM {table}") == [("a", 1)]
            if target_url.startswith("duckdb"):
                with open_warehouse(target_url) as second:  # (one process: the file shared)
                    # Both write the key at once: the second's commit fails, transiently.
                    first.begin()
                    assert first.insert_unless_present(table, {"k": "b", "v": 3}, ("k",))
                    second.begin()
                    assert second.insert_unless_present(table, {"k": "b", "v": 4}, ("k",))
                    first.commit()
                    with pytest.raises(WarehouseError) as raced:
                        second.commit()
                    assert is_transient(raced.value)
                    second.rollback()
                    # The key committed after the second's snapshot: its insert fails,
                    # transiently; tried again, it finds the row.
                    second.begin()
                    second.execute(f"SELECT count(*) FROM {table}")  # (its snapshot)
                    first.insert_unless_present(table, {"k": "c", "v": 5}, ("k",))
                    with pytest.raises(WarehouseError) as raced:
                        second.insert_unless_present(table, {"k": "c", "v": 6}, ("k",))
                    assert is_transient(raced.value)
                    second.rollback()
                    assert second.insert_unless_present(table, {"k": "c", "v": 6}, ("k",)) is False
                rows = first.execute(f"SELECT k, v FROM {table} ORDER BY k")
                assert rows == [("a", 1), ("b", 3), ("c", 5)]
        finally:
            first.execute(f"DROP TABLE IF EXISTS {table}")
