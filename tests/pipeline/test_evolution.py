"""Versioned schemas and the evolution policies, on both targets."""

import json
from decimal import Decimal
from pathlib import Path

from tests.conftest import open_warehouse, unique_table
from tests.edges.test_cli import run_cli

FILES = {
    "f1.csv": "id,name,age\n1,Ann,30\n2,Bo,41\n",
    "f2.csv": "id,name,email\n3,Cy,cy@example.com\n4,Di,\n",
    "f3.csv": "id,name,email,age\n5,Ed,ed@example.com,30.5\n6,Flo,,7\n",
}


def ingest_each(workdir: Path, target: str, table: str, *extra: str) -> list[dict]:
    results = []
    for name, text in FILES.items():
        (workdir / name).write_text(text, encoding="utf-8")
        code, out, err = run_cli(
            "ingest", name, "--target", target, "--table", table, "--json", *extra
        )
        assert code == 0, err
        results.append(json.loads(out)["files"][0])
    return results


def test_evolve_adds_and_widens_columns(workdir: Path, target_url: str):
    table = unique_table("people")
    results = ingest_each(workdir, target_url, table)
    assert [r["schema_version"] for r in results] == [1, 2, 3]
    assert [r["rows_rejected"] for r in results] == [0, 0, 0]
    v2 = json.loads((workdir / "schemas" / table / "v2.json").read_text())
    assert v2["previous_version"] == 1
    assert v2["changes"] == [
        {"change": "missing", "column": "age"},
        {"change": "added", "column": "email", "type": "text"},
    ]
    v3 = json.loads(Path(results[2]["schema_path"]).read_text())
    assert v3["changes"] == [
        {"change": "widened", "column": "age", "from": "integer", "to": "decimal(38,1)"},
    ]
    with open_warehouse(target_url) as warehouse:
        types = warehouse.table_types(warehouse.default_schema, table)
        got = warehouse.execute(f'SELECT id, age, email FROM "{table}" ORDER BY id')
    assert types == {"id": "integer", "name": "text", "age": "decimal(38,1)", "email": "text"}
    assert [(i, None if a is None else Decimal(str(a)), e) for i, a, e in got] == [
        (1, Decimal("30.0"), None),
        (2, Decimal("41.0"), None),
        (3, None, "cy@example.com"),
        (4, None, None),
        (5, Decimal("30.5"), "ed@example.com"),
        (6, Decimal("7.0"), None),
    ]


def test_freeze_keeps_one_version_and_rejects_what_does_not_fit(workdir: Path, target_url: str):
    table = unique_table("frozen")
    results = ingest_each(workdir, target_url, table, "--evolution", "freeze")
    assert [r["schema_version"] for r in results] == [1, 1, 1]
    assert [(r["rows_loaded"], r["rows_rejected"]) for r in results] == [(2, 0), (0, 2), (1, 1)]
    assert sorted(p.name for p in (workdir / "schemas" / table).iterdir()) == ["v1.json"]
    f2 = Path(results[1]["rejects_path"]).read_text(encoding="utf-8").splitlines()
    assert f2[1] == (
        "f2.csv,2,contract,unknown_column,email,column 'email' is not in schema v1 (frozen),"
        '"3,Cy,cy@example.com"'
    )
    assert (
        f2[2] == "f2.csv,3,contract,missing_column,age,"
        "column 'age' of schema v1 is missing from the file,\"4,Di,\""
    )
    f3 = Path(results[2]["rejects_path"]).read_text(encoding="utf-8").splitlines()
    assert f3[1].startswith("f3.csv,2,contract,unknown_column,email,")
    with open_warehouse(target_url) as warehouse:
        types = warehouse.table_types(warehouse.default_schema, table)
        ids = warehouse.execute(f'SELECT id FROM "{table}" ORDER BY id')
    assert types == {"id": "integer", "name": "text", "age": "integer"}
    assert ids == [(1,), (2,), (6,)]


def test_discard_columns_drops_unknown_columns(workdir: Path, target_url: str):
    table = unique_table("discard")
    results = ingest_each(workdir, target_url, table, "--evolution", "discard_columns")
    assert [(r["rows_loaded"], r["rows_rejected"]) for r in results] == [(2, 0), (2, 0), (1, 1)]
    with open_warehouse(target_url) as warehouse:
        types = warehouse.table_types(warehouse.default_schema, table)
    assert types == {"id": "integer", "name": "text", "age": "integer"}


def test_a_declared_schema_wins_over_detection(workdir: Path, target_url: str):
    table = unique_table("declared")
    folder = workdir / "schemas" / table
    folder.mkdir(parents=True)
    declared = {
        "table": table,
        "origin": "declared",
        "primary_key": ["code"],
        "columns": [
            {"name": "code", "type": "text", "nullable": False},
            {"name": "amount", "type": "decimal(38,2)"},
            {"name": "qty", "type": "integer"},
        ],
    }
    (folder / "v1.json").write_text(json.dumps(declared), encoding="utf-8")
    (workdir / "d.csv").write_text("code,amount,qty\n007,1,2\n010,2.5,3.5\n,3,4\n", "utf-8")
    code, out, _ = run_cli("ingest", "d.csv", "--target", target_url, "--table", table, "--json")
    (entry,) = json.loads(out)["files"]
    assert code == 0
    assert (entry["schema_version"], entry["rows_loaded"], entry["rows_rejected"]) == (1, 1, 2)
    rejects = Path(entry["rejects_path"]).read_text(encoding="utf-8").splitlines()[1:]
    assert rejects == [
        "d.csv,3,cast,type_mismatch,qty,column 'qty': '3.5' is not integer,\"010,2.5,3.5\"",
        "d.csv,4,contract,not_null,code,"
        "column 'code' is empty but the schema says NOT NULL,\",3,4\"",
    ]
    with open_warehouse(target_url) as warehouse:
        got = warehouse.execute(f'SELECT code, CAST(amount AS VARCHAR), qty FROM "{table}"')
    assert got == [("007", "1.00", 2)]


def test_a_late_float_in_a_long_file_widens_on_load(workdir: Path, target_url: str):
    table = unique_table("late")
    lines = ["n,zip"] + [f"{i},{i:05d}" for i in range(60_000)] + ["1.5,00001"]
    (workdir / "late.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, _ = run_cli("ingest", "late.csv", "--target", target_url, "--table", table, "--json")
    (entry,) = json.loads(out)["files"]
    assert (code, entry["rows_loaded"], entry["rows_rejected"]) == (0, 60_001, 0)
    with open_warehouse(target_url) as warehouse:
        types = warehouse.table_types(warehouse.default_schema, table)
        zips = warehouse.execute(f'SELECT zip FROM "{table}" WHERE n = 7')
    assert types == {"n": "decimal(38,1)", "zip": "text"}
    assert zips == [("00007",)]


def test_schema_show_and_diff(workdir: Path):
    table = unique_table("shown")
    ingest_each(workdir, f"duckdb:///{workdir / 'w.duckdb'}", table)
    code, out, _ = run_cli("schema", "diff", table, "1", "3")
    assert code == 0
    assert out == (
        f"{table}: v1 -> v3\n  retyped  age: integer -> decimal(38,1)\n  added    email text\n"
    )
    code, out, _ = run_cli("schema", "show", table)
    assert out.splitlines()[0] == f"{table} v3 (evolved, from v2)"
    age_row = next(line for line in out.splitlines() if line.startswith("age "))
    assert age_row.split() == [
        "age",
        "age",
        "decimal(38,1)",
        "yes",
        "0/2",
        "7.0",
        "..",
        "30.5",
        "30.5,",
        "7",
    ]
    code, _, err = run_cli("schema", "show", "nosuch")
    assert (code, err) == (
        2,
        f"csvdock: error: table 'nosuch' has no schema in {workdir / 'schemas'}\n",
    )
