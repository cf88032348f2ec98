"""Headers PostgreSQL refuses, and its column limit, the same on both targets and in both modes
(issue 25, item 16)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import open_warehouse, unique_table
from tests.edges.test_cli import run_cli


def test_a_bounding_box_header_loads_on_both_targets(workdir: Path, target_url: str):
    table = unique_table("bbox")
    (workdir / "b.csv").write_text("xmin,ymin,xmax,ymax,ctid\n1,2,3,4,a\n5,6,7,8,b\n")
    code, out, err = run_cli("ingest", "b.csv", "--target", target_url, "--table", table, "--json")
    assert code == 0, err
    assert json.loads(out)["files"][0]["status"] == "loaded"
    schema = json.loads((workdir / "schemas" / table / "v1.json").read_text())
    names = [(c["name"], c["source"]) for c in schema["columns"]]
    assert names[:3] == [("xmin_", "xmin"), ("ymin", "ymin"), ("xmax_", "xmax")]
    with open_warehouse(target_url) as warehouse:
        assert list(warehouse.table_types(warehouse.default_schema, table))[:2] == ["xmin_", "ymin"]


@pytest.mark.parametrize("mode", ["etl", "elt"])
def test_too_many_columns_for_postgresql_is_one_reason_in_both_modes(
    workdir: Path, pg_dsn: str, mode: str
):
    header = ",".join(f"c{i}" for i in range(1599))
    (workdir / "wide.csv").write_text(header + "\n" + ",".join("1" * 1599) + "\n")
    code, out, err = run_cli(
        "ingest",
        "wide.csv",
        "--target",
        pg_dsn,
        "--table",
        unique_table("wide"),
        "--mode",
        mode,
        "--json",
    )
    (result,) = json.loads(out)["files"]
    assert code == 1 and result["status"] == "quarantined"
    assert "1599 columns; the target holds at most 1597" in result["reason"]
