"""Table names at the edges (issue 25, items 1 and 4): csvdock's own schemas and the catalogs
are never a target, and an alias of a table (``public.x``, ``main.x``) is the same table and the
same ledger key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import open_warehouse, unique_table
from tests.edges.test_cli import run_cli


@pytest.mark.parametrize(
    "table",
    [
        "csvdock.ledger",
        "CSVDOCK.rejects",
        "csvdock_staging.x",
        "information_schema.t",
        "pg_catalog.x",
    ],
)
def test_metadata_and_catalogs_are_refused_as_targets(workdir: Path, table: str):
    (workdir / "f.csv").write_text("table_name,file_sha256\nx,y\n", encoding="utf-8")
    code, out, err = run_cli("ingest", "f.csv", "--table", table)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and "choose another schema" in err
    assert "Traceback" not in err


def test_an_alias_of_a_table_loads_a_file_once(workdir: Path, target_url: str):
    table = unique_table("alias")
    default = "main" if target_url.startswith("duckdb") else "public"
    (workdir / "f.csv").write_text("id,name\n1,a\n2,b\n", encoding="utf-8")
    statuses = []
    for name in (table, f"{default}.{table}", f"{default.upper()}.{table}"):
        code, out, err = run_cli(
            "ingest", "f.csv", "--target", target_url, "--table", name, "--json"
        )
        assert code == 0, err
        (result,) = json.loads(out)["files"]
        statuses.append((result["status"], result["table"]))
    assert statuses == [("loaded", table), ("skipped", table), ("skipped", table)]
    with open_warehouse(target_url) as warehouse:
        rows = warehouse.execute(f'SELECT count(*) FROM "{default}"."{table}"')
        assert list(rows)[0][0] == 2


def test_the_same_bytes_from_a_new_path_are_skipped_not_failed(workdir: Path):
    (workdir / "m1.csv").write_text("id,n\n1,2\n2,x,9\n3,4\n", encoding="utf-8")
    code, out, err = run_cli("ingest", "m1.csv", "--json")
    assert code == 0 and json.loads(out)["files"][0]["rows_rejected"] == 1
    (workdir / "m1.csv").rename(workdir / "m2.csv")
    code, out, err = run_cli("ingest", "m2.csv", "--table", "m1", "--json")
    assert code == 0, err
    assert json.loads(out)["files"][0]["status"] == "skipped"


def test_a_ledger_row_of_the_old_alias_still_counts(workdir: Path):
    """A file loaded as `main.x` before names were made one is not loaded again as `x`."""
    target = "duckdb:///warehouse.duckdb"
    (workdir / "f.csv").write_text("id\n1\n", encoding="utf-8")
    code, out, _ = run_cli("ingest", "f.csv", "--table", "old_alias", "--json")
    assert code == 0
    with open_warehouse(target) as warehouse:  # as an earlier csvdock wrote it
        warehouse.execute(
            "UPDATE csvdock.ledger SET table_name = 'main.old_alias' WHERE table_name = 'old_alias'"
        )
    code, out, _ = run_cli("ingest", "f.csv", "--table", "main.old_alias", "--json")
    assert json.loads(out)["files"][0]["status"] == "skipped"
