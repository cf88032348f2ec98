"""Dead letters are keyed by target and table (issue 25, item 3): a replay reads the target it
is given, refuses when the table's dead letters are on another target, and keeps its marks in
the target's csvdock.replays (the CSV is derived from it)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import dead_letter_csv, open_warehouse, unique_table
from tests.edges.test_cli import run_cli

ROWS = "id,n\n" + "".join(f"{i},{i * 2}\n" if i != 2 else "2,x\n" for i in range(2000))


def test_replay_never_crosses_targets(workdir: Path, pg_dsn: str):
    table = unique_table("cross")
    (workdir / "f.csv").write_text(ROWS, encoding="utf-8")
    code, out, err = run_cli("ingest", "f.csv", "--target", pg_dsn, "--table", table, "--json")
    assert code == 0 and json.loads(out)["files"][0]["rows_rejected"] == 1, err
    assert dead_letter_csv(workdir, table, pg_dsn).exists()
    assert not dead_letter_csv(workdir, table).exists()  # the default DuckDB target's

    code, out, err = run_cli("replay", table)  # no --target: the default DuckDB file
    assert code == 2 and "give that target with --target" in err
    assert not (workdir / "warehouse.duckdb").exists()  # nothing was replayed into it

    letters = dead_letter_csv(workdir, table, pg_dsn)
    letters.write_text(letters.read_text().replace("2,x", "2,5"), encoding="utf-8")
    code, out, err = run_cli("replay", table, "--target", pg_dsn, "--json")
    assert code == 0, err
    with open_warehouse(pg_dsn) as warehouse:
        marks = warehouse.execute(
            "SELECT line, replayed_in FROM csvdock.replays WHERE table_name = $1", [table]
        )
        assert [line for line, _ in marks] == [4]
        assert warehouse.execute(f'SELECT count(*) FROM "{table}"')[0][0] == 2000
    letters.unlink()  # a lost CSV is rebuilt from the target, marks included
    run_cli("ingest", "f.csv", "--target", pg_dsn, "--table", table)  # skipped: CSV synced
    assert "2,x" in letters.read_text() and json.loads(out)["run_id"] in letters.read_text()


def test_dead_letters_of_the_old_layout_are_named_not_ignored(workdir: Path):
    old = workdir / ".csvdock" / "deadletter" / "legacy"
    old.mkdir(parents=True)
    (old / "DeadLetterQueue.csv").write_text("run_id,file,file_sha256,line,stage\n")
    code, _, err = run_cli("replay", "legacy")
    assert code == 2 and "kept before they were told apart by target" in err
    assert str(dead_letter_csv(workdir, "legacy").parent) in err
