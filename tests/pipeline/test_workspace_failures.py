"""A workspace that cannot be written after the commit (issue 25, item 15): the data stays
loaded, the result says what was not written, no partial file stays, no traceback; a workspace
that cannot be written at all is one line and exit 1."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import dead_letter_csv, open_warehouse
from tests.edges.test_cli import run_cli

ROWS = "id,n\n" + "".join(f"{i},{i}\n" if i != 5 else "5,x\n" for i in range(3000))


def test_dead_letters_that_cannot_be_written_leave_the_load_whole(workdir: Path):
    (workdir / "f.csv").write_text(ROWS, encoding="utf-8")
    (workdir / ".csvdock").mkdir()
    (workdir / ".csvdock" / "deadletter").write_text("not a folder")  # writing it fails
    code, out, err = run_cli("ingest", "f.csv", "--json")
    assert code == 0, err
    (result,) = json.loads(out)["files"]
    assert result["status"] == "loaded" and result["rows_loaded"] == 2999
    assert "the dead-letter CSV could not be written" in result["reason"]
    assert "Traceback" not in err
    with open_warehouse("duckdb:///warehouse.duckdb") as warehouse:
        assert warehouse.execute('SELECT count(*) FROM "f"')[0][0] == 2999
    (workdir / ".csvdock" / "deadletter").unlink()
    code, out, _ = run_cli("ingest", "f.csv", "--json")  # skipped, and the CSV rebuilt
    assert json.loads(out)["files"][0]["status"] == "skipped"
    assert "5,x" in dead_letter_csv(workdir, "f").read_text()
    assert not list((workdir / ".csvdock").rglob("*.partial"))


def test_a_workspace_that_cannot_be_written_is_one_line(workdir: Path):
    (workdir / "f.csv").write_text(ROWS, encoding="utf-8")
    (workdir / ".csvdock").write_text("not a folder")
    code, _, err = run_cli("ingest", "f.csv")
    assert code == 1
    assert err.strip().startswith("csvdock: error:") and len(err.strip().splitlines()) == 1
